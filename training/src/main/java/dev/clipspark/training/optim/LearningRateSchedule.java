package dev.clipspark.training.optim;

/**
 * The learning rate at each optimiser step (steps count from 0), as open_clip's schedulers: a linear
 * warmup from {@code baseLr / warmupSteps} up to {@code baseLr}, then a cosine decay to 0 or a constant rate.
 */
@FunctionalInterface
public interface LearningRateSchedule {

  /**
   * The learning rate for step {@code step}.
   *
   * @throws IllegalArgumentException if {@code step} is negative
   */
  double at(long step);

  /**
   * open_clip's {@code cosine_lr}: for {@code step < warmupSteps}, {@code baseLr * (step + 1) / warmupSteps};
   * then {@code 0.5 * (1 + cos(pi * (step - warmupSteps) / (totalSteps - warmupSteps))) * baseLr}, which
   * reaches 0 at {@code totalSteps}. As in open_clip, steps past {@code totalSteps} are not clamped (the
   * cosine rises again).
   *
   * @param baseLr      the peak learning rate, finite and at least 0
   * @param warmupSteps steps of linear warmup, at least 0
   * @param totalSteps  steps of the whole run, more than {@code warmupSteps}
   * @throws IllegalArgumentException naming the argument, its value and what is allowed
   */
  static LearningRateSchedule cosine(double baseLr, long warmupSteps, long totalSteps) {
    return new Schedules.Cosine(baseLr, warmupSteps, totalSteps);
  }

  /**
   * open_clip's {@code const_lr}: for {@code step < warmupSteps}, {@code baseLr * (step + 1) / warmupSteps};
   * then {@code baseLr}.
   *
   * @param baseLr      the learning rate after warmup, finite and at least 0
   * @param warmupSteps steps of linear warmup, at least 0
   * @throws IllegalArgumentException naming the argument, its value and what is allowed
   */
  static LearningRateSchedule constant(double baseLr, long warmupSteps) {
    return new Schedules.Constant(baseLr, warmupSteps);
  }
}
