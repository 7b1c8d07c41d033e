package dev.clipspark.training.trainer;

import dev.clipspark.dataset.image.ImageBenchmark;
import dev.clipspark.training.data.ImagePreprocessor;
import dev.clipspark.training.model.ClipModel;
import dev.clipspark.training.model.ClipParameters;
import dev.clipspark.training.model.ModelConfig;
import dev.clipspark.training.model.ModelFlops;
import dev.clipspark.training.nn.ParameterSet;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Random;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The speed of embedding at scale ({@code evaluate --task embed}, one executor core's work): how many images a
 * second the image tower embeds in inference mode, how many a second one thread decodes and preprocesses (JPEG
 * decode, OpenAI's bicubic resize and centre crop, normalisation), and how many captions a second the text tower
 * embeds. The towers' speed does not depend on the weights' values, so the model is freshly initialised unless
 * parameters are given. The median of the timed batches is reported.
 */
public final class EmbedBenchmark {

  /** Side of the photo-like JPEG sources of the preprocessing figure. */
  public static final int SOURCE_SIDE = 512;

  /**
   * Figures of one benchmark.
   *
   * @param model model name
   * @param batch images (and captions) per forward pass
   * @param threads ND4J element-wise threads in effect
   * @param cores processors this JVM may use (matrix products use them all through BLAS)
   * @param batches timed batches
   * @param imageSeconds median seconds of one image-tower forward pass over a batch
   * @param imagesPerSecond batch / imageSeconds
   * @param imagesPerSecondPerCore imagesPerSecond / cores
   * @param gflopsPerImage matrix-product GFLOPs of one image's forward pass
   * @param achievedGflops image-tower GFLOP/s
   * @param gemmGflops the single-precision GEMM rate this process measured
   *     ({@link TrainBenchmark#gemmGflops}): what the machine gave it at the time
   * @param utilisation achievedGflops / gemmGflops
   * @param preprocessPerSecond images decoded and preprocessed per second on one thread ({@value #SOURCE_SIDE}
   *     px JPEG sources)
   * @param textsPerSecond captions embedded per second (median batch)
   */
  public record Result(String model, int batch, int threads, int cores, int batches, double imageSeconds,
      double imagesPerSecond, double imagesPerSecondPerCore, double gflopsPerImage, double achievedGflops,
      double gemmGflops, double utilisation, double preprocessPerSecond, double textsPerSecond) {}

  private EmbedBenchmark() {}

  /**
   * Runs {@code warmup} untimed and {@code batches} timed forward passes of each tower, and preprocesses
   * {@code batches * batch} images.
   *
   * @param params the weights to embed with, or null for a fresh initialisation
   * @param threads ND4J element-wise threads (0: ND4J's default)
   */
  public static Result run(ModelConfig config, ParameterSet params, int batch, int batches, int warmup, int threads) {
    if (batch < 1 || batches < 1 || warmup < 0) {
      throw new IllegalArgumentException(String.format(
          "Cannot benchmark embedding with batch %d, %d batches, %d warm-up batches: need a batch and a timed batch"
              + " of at least 1", batch, batches, warmup));
    }
    Backends.check();
    Backends.setThreads(threads);
    ClipModel model = ClipModel.create(config, params != null ? params
        : ClipParameters.initialize(config, 1, DataType.FLOAT));
    model.setTraining(false);
    int side = config.vision().imageSize();

    // Preprocessing on this thread, from distinct photo-like JPEGs.
    var jpegs = new ArrayList<byte[]>();
    for (int i = 0; i < 8; i++) {
      jpegs.add(ImageBenchmark.encodeJpeg(ImageBenchmark.photoLike(SOURCE_SIDE, SOURCE_SIDE * 3 / 4, i), 90));
    }
    var preprocessor = ImagePreprocessor.eval(side, ImagePreprocessor.Resample.BICUBIC);
    float[] flat = new float[batch * 3 * side * side];
    for (int i = 0; i < Math.min(batch, 16); i++) { // warm-up
      preprocessor.apply(jpegs.get(i % jpegs.size()), null);
    }
    long t0 = System.nanoTime();
    int preprocessed = batches * batch;
    for (int i = 0; i < preprocessed; i++) {
      float[] p = preprocessor.apply(jpegs.get(i % jpegs.size()), null);
      System.arraycopy(p, 0, flat, (i % batch) * p.length, p.length);
    }
    double preprocessPerSecond = preprocessed / ((System.nanoTime() - t0) / 1e9);

    INDArray images = Nd4j.createFromArray(flat).reshape('c', batch, 3, side, side);
    double[] imageTimes = time(batches, warmup, () -> model.encodeImage(images));
    INDArray tokens = tokens(new Random(1), batch, config.text().contextLength(), config.text().vocabSize());
    double[] textTimes = time(batches, warmup, () -> model.encodeText(tokens));

    double imageSeconds = median(imageTimes);
    int cores = Runtime.getRuntime().availableProcessors();
    double perImage = ModelFlops.imageForward(config);
    double ips = batch / imageSeconds;
    double achieved = perImage * ips / 1e9;
    double gemm = TrainBenchmark.gemmGflops(threads);
    return new Result(config.name(), batch, Nd4j.getEnvironment().maxMasterThreads(), cores, batches, imageSeconds,
        ips, ips / cores, perImage / 1e9, achieved, gemm, achieved / gemm, preprocessPerSecond,
        batch / median(textTimes));
  }

  private static double[] time(int batches, int warmup, Runnable pass) {
    for (int i = 0; i < warmup; i++) {
      System.gc();
      pass.run();
    }
    double[] seconds = new double[batches];
    for (int i = 0; i < batches; i++) {
      System.gc(); // the previous pass's activations: free their native memory outside the timed part
      long t0 = System.nanoTime();
      pass.run();
      seconds[i] = (System.nanoTime() - t0) / 1e9;
    }
    return seconds;
  }

  private static double median(double[] values) {
    double[] v = values.clone();
    Arrays.sort(v);
    return v.length % 2 == 1 ? v[v.length / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
  }

  /** Caption-like token rows: start token, 10 to 20 random ids, the end token (the largest id). */
  private static INDArray tokens(Random random, int batch, int context, int vocab) {
    int[][] ids = new int[batch][context];
    for (int[] row : ids) {
      int length = Math.min(context - 1, 10 + random.nextInt(11));
      row[0] = vocab - 2;
      for (int t = 1; t < length; t++) {
        row[t] = random.nextInt(vocab - 2);
      }
      row[length] = vocab - 1;
    }
    return Nd4j.createFromArray(ids);
  }
}
