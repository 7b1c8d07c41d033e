/**
 * Hand-written neural-network layers on raw ND4J operations, each with its forward and backward pass.
 *
 * <p>Layout: activations are batch-first, {@code [batch, seq, width]} (any leading dimensions are
 * allowed where a layer only acts on the last one), in C order; the image layers of the modified ResNet
 * ({@link dev.clipspark.training.nn.Conv2d}, {@link dev.clipspark.training.nn.BatchNorm2d},
 * {@link dev.clipspark.training.nn.AvgPool2d}, {@link dev.clipspark.training.nn.Bottleneck}) take NCHW
 * images, {@code [batch, channels, height, width]}, and
 * {@link dev.clipspark.training.nn.ModifiedResNet} maps them to {@code [batch, embed_dim]}. BatchNorm
 * running statistics are {@link dev.clipspark.training.nn.ParameterSet} buffers, updated in place by
 * forward passes in training mode ({@link dev.clipspark.training.nn.Layer#setTraining}). Weights keep
 * PyTorch's layout ({@code Linear.weight} is {@code [out, in]}, {@code Conv2d.weight}
 * {@code [out, in, k, k]}), so parameters map one to one onto OpenAI's CLIP {@code state_dict}.
 *
 * <p>GPT-2 ({@link dev.clipspark.training.nn.Gpt2Transformer}) uses the same blocks with
 * {@link dev.clipspark.training.nn.GeluTanh} and Hugging Face's {@code Conv1D} weight layout {@code [in, out]}
 * ({@link dev.clipspark.training.nn.Linear#conv1D}), so its parameters map one to one onto Hugging Face's
 * {@code GPT2Model} {@code state_dict}.
 *
 * <p>Contract of a {@link dev.clipspark.training.nn.Layer}: {@code forward} keeps what its backward
 * pass needs (references to its input and a few intermediates, so callers must not modify an input in
 * place before the matching {@code backward}); {@code backward} takes the gradient of the loss with
 * respect to the output, returns the gradient with respect to the input and <em>adds</em> the parameter
 * gradients into the {@link dev.clipspark.training.nn.ParameterSet}'s gradient arrays, so micro-batches
 * accumulate until {@link dev.clipspark.training.nn.ParameterSet#zeroGradients()}. Layers work in the
 * data type of their parameters and inputs (FLOAT for training, DOUBLE for gradient checks).
 *
 * <p>Why not SameDiff: its per-op overhead and slow backward kernels keep a small CLIP near 5% of the
 * machine's GEMM rate; these layers call {@code Nd4j.gemm} and a few element-wise kernels directly.
 */
package dev.clipspark.training.nn;
