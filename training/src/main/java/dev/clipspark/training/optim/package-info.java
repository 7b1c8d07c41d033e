/**
 * Optimisation for CLIP training: {@link dev.clipspark.training.optim.AdamW} (PyTorch's decoupled weight
 * decay), {@link dev.clipspark.training.optim.GradientClipping} by global norm and the
 * {@link dev.clipspark.training.optim.LearningRateSchedule}s of open_clip (linear warmup, then cosine decay
 * or a constant rate).
 *
 * <p>All of them act on a {@link dev.clipspark.training.nn.ParameterSet}'s live parameter and gradient
 * arrays in place. A training step reads: accumulate gradients, {@code clipByGlobalNorm}, then
 * {@code step(schedule.at(step))}, then {@code zeroGradients()}.
 *
 * <p>The per-element work (the AdamW update, the squared norm) runs as plain Java loops over the arrays'
 * native memory: one pass over each array, which on this stack is several times faster than chaining
 * ND4J element-wise kernels or libnd4j's {@code adam_updater} (see {@link dev.clipspark.training.optim.AdamW}).
 */
package dev.clipspark.training.optim;
