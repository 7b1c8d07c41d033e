package dev.clipspark.training.trainer;

/**
 * What a {@link Trainer} run did.
 *
 * @param outDir the run's output directory
 * @param model the model's name
 * @param startStep the step the run started from: 0, or the step of the checkpoint it resumed
 * @param steps the step it ended at (the run's total)
 * @param firstLoss the loss of the first step this run computed (NaN if it computed none)
 * @param lastLoss the loss of the last step
 * @param skippedSteps steps whose update was dropped for a non-finite loss
 * @param samplesPerSecond training samples per second over this run's steps, data waits included
 * @param checkpoint the newest checkpoint written, or empty if none
 * @param metrics the {@code metrics.jsonl} file
 */
public record TrainSummary(String outDir, String model, long startStep, long steps, double firstLoss,
    double lastLoss, long skippedSteps, double samplesPerSecond, String checkpoint, String metrics)
    implements java.io.Serializable {}
