package dev.clipspark.training.lm;

/**
 * A batch of token sequences that grow one token at a time, scored by a language model: what the decoding
 * strategies of {@link CaptionDecoder} need from a model. Rows are independent; {@link #select} keeps, reorders
 * or repeats rows (beam search continues one sequence in several beams).
 */
public interface TokenScorer {

  /** Tokens the model scores. */
  int vocabSize();

  /** Sequences in the batch now. */
  int batch();

  /** Positions each sequence holds now (its prefix and the tokens appended since). */
  int length();

  /** Positions a sequence may hold at most (a GPT-2's n_ctx). */
  int maxLength();

  /** Next-token logits of each row after its last position: {@code [batch][vocab]}. */
  double[][] logits();

  /** Appends one token to each row ({@code tokens.length == batch()}) and scores the next one. */
  void append(int[] tokens);

  /** Keeps the rows {@code rows} in that order; a row may repeat. */
  void select(int[] rows);
}
