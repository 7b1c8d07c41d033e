package dev.clipspark.training.optim;

/** The implementations behind {@link LearningRateSchedule}'s factories. */
final class Schedules {

  private Schedules() {}

  /** open_clip's {@code cosine_lr}. */
  record Cosine(double baseLr, long warmupSteps, long totalSteps) implements LearningRateSchedule {
    Cosine {
      checkBase(baseLr);
      checkWarmup(warmupSteps);
      if (totalSteps <= warmupSteps) {
        throw new IllegalArgumentException(String.format(
            "Cannot schedule a cosine decay over %d total steps: must be more than the %d warmup steps",
            totalSteps, warmupSteps));
      }
    }

    @Override
    public double at(long step) {
      checkStep(step);
      if (step < warmupSteps) {
        return warmup(baseLr, warmupSteps, step);
      }
      double progress = (double) (step - warmupSteps) / (totalSteps - warmupSteps);
      return 0.5 * (1 + Math.cos(Math.PI * progress)) * baseLr;
    }
  }

  /** open_clip's {@code const_lr}. */
  record Constant(double baseLr, long warmupSteps) implements LearningRateSchedule {
    Constant {
      checkBase(baseLr);
      checkWarmup(warmupSteps);
    }

    @Override
    public double at(long step) {
      checkStep(step);
      return step < warmupSteps ? warmup(baseLr, warmupSteps, step) : baseLr;
    }
  }

  private static double warmup(double baseLr, long warmupSteps, long step) {
    return baseLr * (step + 1) / warmupSteps;
  }

  private static void checkBase(double baseLr) {
    if (!(baseLr >= 0) || Double.isInfinite(baseLr)) {
      throw new IllegalArgumentException(
          "Cannot set the base learning rate to " + baseLr + ": must be finite and at least 0");
    }
  }

  private static void checkWarmup(long warmupSteps) {
    if (warmupSteps < 0) {
      throw new IllegalArgumentException("Cannot warm up for " + warmupSteps + " steps: must be at least 0");
    }
  }

  private static void checkStep(long step) {
    if (step < 0) {
      throw new IllegalArgumentException(
          "Cannot compute the learning rate at step " + step + ": steps count from 0");
    }
  }
}
