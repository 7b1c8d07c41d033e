package dev.clipspark.training.lm;

import dev.clipspark.dataset.build.Manifest;
import dev.clipspark.training.tokenizer.Gpt2Tokenizer;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.apache.parquet.example.data.Group;
import org.apache.parquet.hadoop.ParquetFileReader;
import org.apache.parquet.hadoop.ParquetReader;
import org.apache.parquet.hadoop.api.ReadSupport;
import org.apache.parquet.hadoop.example.GroupReadSupport;
import org.apache.parquet.hadoop.util.HadoopInputFile;
import org.apache.parquet.schema.MessageType;

/**
 * The token rows a language model trains on, {@code <|endoftext|> text <|endoftext|>} cut to the model's context,
 * held in memory, and the deterministic order of their batches.
 *
 * <p>Texts come from the {@code caption} column of a built dataset's Parquet shards (in the manifest's order,
 * read with parquet-hadoop, no Spark, only that column) or from plain UTF-8 text files, one text per line (blank
 * lines skipped). Every worker reads the same texts in the same order, so each can compute any batch.
 *
 * <p>Epoch {@code e} visits the rows in a permutation seeded by {@code (seed, e)}; global batch {@code b} of the
 * epoch is the rows at positions {@code [b N, (b + 1) N)} of it ({@code N} the global batch; the rows past the last
 * whole batch wait for the next epoch's permutation) and rank {@code r} of {@code K} takes its positions
 * {@code [b N + r N / K, b N + (r + 1) N / K)}. A batch is therefore a pure function of the seed, the epoch, the
 * batch index and the rank, the same whatever happened before: a resumed run reads exactly what an uninterrupted
 * one would, and K workers together read exactly the batch one process would.
 */
public final class LmCorpus {

  /** The column of a dataset's shards that holds the texts. */
  public static final String CAPTION_COLUMN = "caption";

  private final int[][] rows;
  private final String source;

  private LmCorpus(int[][] rows, String source) {
    this.rows = rows;
    this.source = source;
  }

  /**
   * Tokenises {@code texts} into rows {@code <|endoftext|> ids <|endoftext|>}, each cut to {@code contextLength}
   * tokens.
   *
   * @param source what the texts are, for messages
   * @throws IllegalArgumentException if there are no texts or the context is shorter than 2
   */
  public static LmCorpus of(List<String> texts, Gpt2Tokenizer tokenizer, int contextLength, String source) {
    if (contextLength < 2) {
      throw new IllegalArgumentException("Cannot train on texts with a context of " + contextLength
          + " tokens: at least 2 are needed (one token predicting the next)");
    }
    if (texts.isEmpty()) {
      throw new IllegalArgumentException("Cannot train a language model on " + source + ": it holds no texts");
    }
    int eot = tokenizer.endOfText();
    int[][] rows = new int[texts.size()][];
    for (int i = 0; i < rows.length; i++) {
      int[] ids = tokenizer.encode(texts.get(i));
      int[] row = new int[Math.min(ids.length + 2, contextLength)];
      row[0] = eot;
      System.arraycopy(ids, 0, row, 1, Math.min(ids.length, row.length - 1));
      if (ids.length + 2 <= contextLength) {
        row[row.length - 1] = eot;
      }
      rows[i] = row;
    }
    return new LmCorpus(rows, source);
  }

  /**
   * The captions of a built dataset, shard by shard in the manifest's order.
   *
   * @throws IllegalArgumentException naming the shard that cannot be read or lacks the column
   */
  public static List<String> captions(String datasetDir, Configuration conf) {
    Manifest manifest = Manifest.read(datasetDir, conf);
    var out = new ArrayList<String>();
    for (Manifest.Shard shard : manifest.shards()) {
      Path path = new Path(datasetDir, shard.path());
      try {
        MessageType schema;
        try (var footer = ParquetFileReader.open(HadoopInputFile.fromPath(path, conf))) {
          schema = footer.getFooter().getFileMetaData().getSchema();
        }
        if (!schema.containsField(CAPTION_COLUMN)) {
          throw new IllegalArgumentException("Cannot read the captions of shard " + path + ": it has no column '"
              + CAPTION_COLUMN + "'");
        }
        Configuration projected = new Configuration(conf);
        projected.set(ReadSupport.PARQUET_READ_SCHEMA,
            new MessageType(schema.getName(), List.of(schema.getType(CAPTION_COLUMN))).toString());
        try (ParquetReader<Group> reader = ParquetReader.builder(new GroupReadSupport(), path).withConf(projected)
            .build()) {
          for (Group g = reader.read(); g != null; g = reader.read()) {
            out.add(g.getFieldRepetitionCount(CAPTION_COLUMN) == 0 ? "" : g.getString(CAPTION_COLUMN, 0));
          }
        }
      } catch (IOException e) {
        throw new IllegalArgumentException("Cannot read the captions of shard " + path + ": " + e.getMessage(), e);
      }
    }
    return out;
  }

  /**
   * The non-blank lines of UTF-8 text files (local paths or Hadoop URIs), file by file in the given order.
   *
   * @throws IllegalArgumentException naming a file that cannot be read or is not UTF-8
   */
  public static List<String> lines(List<String> files, Configuration conf) {
    var out = new ArrayList<String>();
    for (String file : files) {
      Path path = new Path(file);
      var decoder = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT);
      try (var reader = new BufferedReader(new InputStreamReader(path.getFileSystem(conf).open(path), decoder))) {
        for (String line = reader.readLine(); line != null; line = reader.readLine()) {
          if (!line.isBlank()) {
            out.add(line);
          }
        }
      } catch (java.io.FileNotFoundException e) {
        throw new IllegalArgumentException("Cannot read corpus file " + file + ": it does not exist", e);
      } catch (IOException e) {
        throw new IllegalArgumentException("Cannot read corpus file " + file + ": " + e.getMessage()
            + (e instanceof java.nio.charset.CharacterCodingException ? " (it is not UTF-8 text)" : ""), e);
      }
    }
    return out;
  }

  /** Number of rows. */
  public int size() {
    return rows.length;
  }

  /** What the texts are (a dataset directory or files). */
  public String source() {
    return source;
  }

  /** Row {@code i} (not a copy). */
  public int[] row(int i) {
    return rows[i];
  }

  /** Tokens in all rows. */
  public long tokens() {
    return Arrays.stream(rows).mapToLong(r -> r.length).sum();
  }

  /** Whole global batches of {@code batchSize} rows in an epoch. */
  public long batchesPerEpoch(int batchSize) {
    return rows.length / batchSize;
  }

  /**
   * The rows of epoch {@code epoch} in visiting order: a Fisher-Yates permutation seeded by {@code (seed, epoch)}.
   */
  public int[] order(long seed, int epoch) {
    int[] p = new int[rows.length];
    for (int i = 0; i < p.length; i++) {
      p[i] = i;
    }
    var random = new SplittableRandom(mix(mix(seed) ^ (0x5DEECE66DL + epoch)));
    for (int i = p.length - 1; i > 0; i--) {
      int j = random.nextInt(i + 1);
      int t = p[i];
      p[i] = p[j];
      p[j] = t;
    }
    return p;
  }

  /**
   * One worker's share of a global batch.
   *
   * @param order   the epoch's {@link #order}
   * @param batch   the batch's index in the epoch
   * @param size    the global batch {@code N}
   * @param rank    this worker
   * @param workers {@code K}; must divide {@code N}
   * @return the rows, not copies
   */
  public List<int[]> share(int[] order, long batch, int size, int rank, int workers) {
    if (workers < 1 || size % workers != 0 || rank < 0 || rank >= workers) {
      throw new IllegalArgumentException(String.format(Locale.ROOT, "Cannot split a batch of %d rows for worker %d"
          + " of %d: the workers must divide the batch", size, rank, workers));
    }
    if ((batch + 1) * size > order.length) {
      throw new IllegalArgumentException(String.format(Locale.ROOT, "Cannot take batch %d of %d rows from %s: an"
          + " epoch holds %d whole batches", batch, size, source, order.length / size));
    }
    int n = size / workers;
    long from = batch * size + (long) rank * n;
    var out = new ArrayList<int[]>(n);
    for (int i = 0; i < n; i++) {
      out.add(rows[order[(int) (from + i)]]);
    }
    return out;
  }

  /** Positions scored by the next-token loss in these rows: each row's length minus one. */
  public static long scored(List<int[]> rows) {
    long m = 0;
    for (int[] r : rows) {
      m += r.length - 1;
    }
    return m;
  }

  private static long mix(long z) {
    z += 0x9E3779B97F4A7C15L;
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    return z ^ (z >>> 31);
  }
}
