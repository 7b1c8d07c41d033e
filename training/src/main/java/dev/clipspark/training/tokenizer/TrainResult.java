package dev.clipspark.training.tokenizer;

/**
 * What {@link BpeTrainer} learned and wrote.
 *
 * @param mergesFile where the merges file was written
 * @param vocabSizeAsked the vocabulary size asked for
 * @param vocabSize the vocabulary size the file supports: {@code 514 + mergesLearned}; load the file with this
 *     size (or less)
 * @param mergesLearned merges written to the file
 * @param distinctWords distinct words (pre-tokenised pieces) in the captions
 * @param wordOccurrences words in the captions, counting repeats
 * @param wordsUsed distinct words the merges were learned from: those seen at least {@code minWordCount}
 *     times, at most {@link BpeTrainer#MAX_WORDS} of them
 * @param minWordCount the minimum count a word needed to be used
 */
public record TrainResult(
    String mergesFile,
    int vocabSizeAsked,
    int vocabSize,
    int mergesLearned,
    long distinctWords,
    long wordOccurrences,
    long wordsUsed,
    long minWordCount) {

  /** The merges asked for: {@code vocabSizeAsked - 514}. */
  public int mergesAsked() {
    return vocabSizeAsked - ClipTokenizer.BASE_TOKENS;
  }

  /**
   * Whether all the merges asked for were learned. When not, the words ran out of pairs seen at least twice
   * before the vocabulary was full, and the file holds only {@link #mergesLearned} merges.
   */
  public boolean complete() {
    return mergesLearned == mergesAsked();
  }
}
