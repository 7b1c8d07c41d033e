/**
 * Released CLIP weights in and out: OpenAI's TorchScript archives ({@code ViT-B-32.pt}, {@code RN50.pt}),
 * PyTorch zip archives of state dicts (open_clip's {@code open_clip_pytorch_model.bin} and training checkpoints
 * {@code epoch_N.pt}) and safetensors files, reached through the {@link dev.clipspark.training.weights.ExternalWeights}
 * facade; and GPT-2-family language-model weights with Hugging Face's names (safetensors, {@code torch.save} state
 * dicts of {@code GPT2Model} or {@code GPT2LMHeadModel}) through {@link dev.clipspark.training.weights.Gpt2Weights},
 * on the same readers.
 *
 * <p>A weights file is untrusted input. Pickles are read by {@code SafeUnpickler}, which interprets only the
 * opcodes {@code torch.save} and {@code torch.jit.save} emit and builds only tensors, dicts, lists, tuples,
 * strings, numbers and (for TorchScript) modules as plain maps of their attributes; any other global is refused by
 * name and no code runs. Tensor bytes come only from the archive's own {@code data/} records.
 */
package dev.clipspark.training.weights;
