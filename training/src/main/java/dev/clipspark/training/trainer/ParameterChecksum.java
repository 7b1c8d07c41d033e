package dev.clipspark.training.trainer;

import dev.clipspark.training.collective.Collective;
import dev.clipspark.training.device.HostMemory;
import dev.clipspark.training.nn.ParameterSet;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.Locale;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * A 64-bit checksum of a model's exact bits (every parameter value and every buffer, such as BatchNorm running
 * statistics, in name order), and the check that all workers of a {@link Collective} hold the same one. Workers
 * that apply the same all-reduced gradients to the same weights stay bit-identical, so any difference means a
 * worker has gone wrong (a lost update, a different checkpoint, a hardware fault) and training must stop.
 */
final class ParameterChecksum {

  private ParameterChecksum() {}

  /** The checksum of {@code params}' values and buffers; equal bits give equal checksums. */
  static long of(ParameterSet params) {
    long h = 0x6A09E667F3BCC909L;
    for (String name : params.names()) {
      h = mix(h, name.hashCode(), params.value(name));
    }
    for (String name : params.bufferNames()) {
      h = mix(h, name.hashCode(), params.buffer(name));
    }
    return h;
  }

  /**
   * Gathers every worker's checksum of {@code params} and throws when they differ.
   *
   * @throws IllegalStateException naming the step and each worker's checksum when they differ
   */
  static void verify(ParameterSet params, Collective collective, long step) {
    long mine = of(params);
    long[] all = collective.allGather(Nd4j.createFromArray(new long[] {mine})).toLongVector();
    for (long other : all) {
      if (other != mine) {
        String[] hex = Arrays.stream(all).mapToObj(Long::toHexString).toArray(String[]::new);
        throw new IllegalStateException(String.format(Locale.ROOT,
            "Cannot continue training at step %d: the %d workers' parameters differ (checksums by rank: %s); they"
                + " must stay identical. Resume from the newest checkpoint; if it recurs, look for a faulty executor",
            step, all.length, String.join(", ", hex)));
      }
    }
  }

  private static long mix(long h, int salt, INDArray array) {
    INDArray copy = array.dup('c');
    try (var view = HostMemory.read(copy)) {
      ByteBuffer bytes = view.bytes().order(ByteOrder.LITTLE_ENDIAN);
      long n = copy.length() * copy.dataType().width();
      h = step(h, salt);
      h = step(h, n);
      int i = 0;
      for (; i + 8 <= n; i += 8) {
        h = step(h, bytes.getLong(i));
      }
      for (; i < n; i++) {
        h = step(h, bytes.get(i));
      }
    }
    return h;
  }

  private static long step(long h, long v) {
    h ^= v * 0x9E3779B97F4A7C15L;
    h = Long.rotateLeft(h, 29) * 0xBF58476D1CE4E5B9L;
    return h ^ (h >>> 32);
  }
}
