package dev.clipspark.training.data;

/**
 * Derives independent 64-bit seeds from a training seed and a few integers (epoch, stream, sample index)
 * with SplitMix64's finaliser, so every random choice of the pipeline is a pure function of its
 * coordinates rather than of a shared generator's history.
 */
final class Seeds {

  /** Stream id of the per-epoch shard permutation. */
  static final long SHARD_ORDER = 1;
  /** Stream id of the per-epoch shuffle buffer. */
  static final long SHUFFLE = 2;
  /** Stream id of per-sample augmentation. */
  static final long AUGMENT = 3;

  private static final long GOLDEN = 0x9E3779B97F4A7C15L;

  private Seeds() {}

  /** A seed for the coordinates {@code parts} under {@code seed}; distinct coordinates give unrelated seeds. */
  static long of(long seed, long... parts) {
    long h = mix(seed + GOLDEN);
    for (long p : parts) {
      h = mix(h ^ mix(p + GOLDEN));
    }
    return h;
  }

  private static long mix(long z) {
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    return z ^ (z >>> 31);
  }
}
