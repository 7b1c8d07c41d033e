#!/usr/bin/python3
"""Reference CLIP fixtures for ClipSpark's weight import and export tests, made with PyTorch.

Builds two tiny CLIP models, a ViT and a modified ResNet, with the architecture of OpenAI's CLIP
(clip/model.py, MIT licence; written out below so the script needs nothing but PyTorch, NumPy and PIL),
saves each in the three formats released CLIP weights come in, and records what PyTorch computes for
a few fixed images and captions:

  <model>.torchscript.pt   torch.jit.trace + torch.jit.save, OpenAI's released format (ViT-B-32.pt):
                           conv/linear/attention weights and the projections in float16 as OpenAI's
                           convert_weights leaves them, the rest float32, plus OpenAI's scalar
                           input_resolution, context_length and vocab_size buffers
  <model>.pytorch.pt       torch.save of a state dict (vit: open_clip's training checkpoint layout
                           {"epoch", "name", "state_dict" with "module." names, "optimizer"};
                           rn: a plain state dict as in open_clip_pytorch_model.bin)
  <model>.safetensors      written by hand here (the safetensors package is not in Debian)
  <model>.json             the architecture, the dtype of every tensor in each file, the captions'
                           token ids, and the reference image features, text features and logits
  image-<i>-<size>.png     the fixed images, already at the model's size

Every weight is first rounded to a value that float16 and bfloat16 both hold exactly (bfloat16 rounding,
magnitudes below 2^-14 set to 0), so all three files hold the same float32 values whatever dtype they
store them in; the references are computed in float32 in eval mode. Images are normalised with
OpenAI's mean and std: x = (pixel / 255 - mean) / std.

Usage (Debian's Python with python3-torch, python3-numpy, python3-pil):
  /usr/bin/python3 tools/reference/make_clip_fixtures.py [OUT_DIR]
      writes the fixtures (default training/src/test/resources/reference)
  /usr/bin/python3 tools/reference/make_clip_fixtures.py --full-size OUT_DIR
      writes OpenAI's ViT-B/32 and RN50 architectures with random weights as OpenAI's archives
      (OUT_DIR/ViT-B-32.pt, RN50.pt; about 550 MB, not committed) with references for two 224x224 images
      and captions (ViT-B-32.json, RN50.json),
      for ExternalWeightsFullSizeTest (-Dclipspark.reference.full-size=OUT_DIR)
  /usr/bin/python3 tools/reference/make_clip_fixtures.py --check FIXTURE_JSON WEIGHTS_FILE [JSON FILE ...]
      loads each WEIGHTS_FILE (a state dict exported by `clip export-weights`, pytorch or safetensors) into
      the reference model strictly, recomputes the features and logits and prints the largest relative
      difference to the recorded ones; exits 1 above 1e-4.
"""

import json
import math
import os
import struct
import sys
from collections import OrderedDict

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

SEED = 20261203
MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)

# Two tiny CLIPs with OpenAI's head width of 64 (so the architecture can be inferred from shapes as
# OpenAI's build_model does) and a 128-token vocabulary to keep the files small (under 2 MB in all).
MODELS = {
    "vit": dict(embed_dim=32, image_resolution=16, vision_layers=2, vision_width=64, vision_patch_size=4,
                context_length=16, vocab_size=128, transformer_width=64, transformer_heads=1,
                transformer_layers=1),
    "rn": dict(embed_dim=32, image_resolution=64, vision_layers=(1, 2, 1, 1), vision_width=2,
               vision_patch_size=None, context_length=16, vocab_size=128, transformer_width=64,
               transformer_heads=1, transformer_layers=1),
}
# The TorchScript files hold float16 and float32 tensors as OpenAI's do; the other two files store every
# floating tensor in one dtype (float16 or bfloat16, to keep them small; float32 is covered by the
# TorchScript files and by the exports).
STATE_DICT_DTYPE = {"vit": torch.float16, "rn": torch.bfloat16}
SAFETENSORS_DTYPE = {"vit": torch.bfloat16, "rn": torch.float16}


# ---- OpenAI's CLIP architecture (clip/model.py) ------------------------------------------------------

class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu2 = nn.ReLU(inplace=True)
        self.avgpool = nn.AvgPool2d(stride) if stride > 1 else nn.Identity()
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu3 = nn.ReLU(inplace=True)
        self.downsample = None
        self.stride = stride
        if stride > 1 or inplanes != planes * Bottleneck.expansion:
            self.downsample = nn.Sequential(OrderedDict([
                ("-1", nn.AvgPool2d(stride)),
                ("0", nn.Conv2d(inplanes, planes * self.expansion, 1, stride=1, bias=False)),
                ("1", nn.BatchNorm2d(planes * self.expansion))]))

    def forward(self, x):
        identity = x
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.relu2(self.bn2(self.conv2(out)))
        out = self.avgpool(out)
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        out = self.relu3(out)
        return out


class AttentionPool2d(nn.Module):
    def __init__(self, spacial_dim, embed_dim, num_heads, output_dim=None):
        super().__init__()
        self.positional_embedding = nn.Parameter(torch.randn(spacial_dim ** 2 + 1, embed_dim) / embed_dim ** 0.5)
        self.k_proj = nn.Linear(embed_dim, embed_dim)
        self.q_proj = nn.Linear(embed_dim, embed_dim)
        self.v_proj = nn.Linear(embed_dim, embed_dim)
        self.c_proj = nn.Linear(embed_dim, output_dim or embed_dim)
        self.num_heads = num_heads

    def forward(self, x):
        x = x.flatten(start_dim=2).permute(2, 0, 1)  # NCHW -> (HW)NC
        x = torch.cat([x.mean(dim=0, keepdim=True), x], dim=0)  # (HW+1)NC
        x = x + self.positional_embedding[:, None, :].to(x.dtype)
        x, _ = F.multi_head_attention_forward(
            query=x[:1], key=x, value=x, embed_dim_to_check=x.shape[-1], num_heads=self.num_heads,
            q_proj_weight=self.q_proj.weight, k_proj_weight=self.k_proj.weight, v_proj_weight=self.v_proj.weight,
            in_proj_weight=None, in_proj_bias=torch.cat([self.q_proj.bias, self.k_proj.bias, self.v_proj.bias]),
            bias_k=None, bias_v=None, add_zero_attn=False, dropout_p=0, out_proj_weight=self.c_proj.weight,
            out_proj_bias=self.c_proj.bias, use_separate_proj_weight=True, training=self.training,
            need_weights=False)
        return x.squeeze(0)


class ModifiedResNet(nn.Module):
    def __init__(self, layers, output_dim, heads, input_resolution=224, width=64):
        super().__init__()
        self.output_dim = output_dim
        self.input_resolution = input_resolution
        self.conv1 = nn.Conv2d(3, width // 2, kernel_size=3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width // 2)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(width // 2, width // 2, kernel_size=3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width // 2)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv3 = nn.Conv2d(width // 2, width, kernel_size=3, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(width)
        self.relu3 = nn.ReLU(inplace=True)
        self.avgpool = nn.AvgPool2d(2)
        self._inplanes = width
        self.layer1 = self._make_layer(width, layers[0])
        self.layer2 = self._make_layer(width * 2, layers[1], stride=2)
        self.layer3 = self._make_layer(width * 4, layers[2], stride=2)
        self.layer4 = self._make_layer(width * 8, layers[3], stride=2)
        embed_dim = width * 32
        self.attnpool = AttentionPool2d(input_resolution // 32, embed_dim, heads, output_dim)

    def _make_layer(self, planes, blocks, stride=1):
        layers = [Bottleneck(self._inplanes, planes, stride)]
        self._inplanes = planes * Bottleneck.expansion
        for _ in range(1, blocks):
            layers.append(Bottleneck(self._inplanes, planes))
        return nn.Sequential(*layers)

    def forward(self, x):
        def stem(x):
            x = self.relu1(self.bn1(self.conv1(x)))
            x = self.relu2(self.bn2(self.conv2(x)))
            x = self.relu3(self.bn3(self.conv3(x)))
            x = self.avgpool(x)
            return x
        x = x.type(self.conv1.weight.dtype)
        x = stem(x)
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        x = self.layer4(x)
        x = self.attnpool(x)
        return x


class LayerNorm(nn.LayerNorm):
    def forward(self, x):
        orig_type = x.dtype
        ret = super().forward(x.type(torch.float32))
        return ret.type(orig_type)


class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class ResidualAttentionBlock(nn.Module):
    def __init__(self, d_model, n_head, attn_mask=None):
        super().__init__()
        self.attn = nn.MultiheadAttention(d_model, n_head)
        self.ln_1 = LayerNorm(d_model)
        self.mlp = nn.Sequential(OrderedDict([
            ("c_fc", nn.Linear(d_model, d_model * 4)),
            ("gelu", QuickGELU()),
            ("c_proj", nn.Linear(d_model * 4, d_model))]))
        self.ln_2 = LayerNorm(d_model)
        self.attn_mask = attn_mask

    def attention(self, x):
        self.attn_mask = self.attn_mask.to(dtype=x.dtype, device=x.device) if self.attn_mask is not None else None
        return self.attn(x, x, x, need_weights=False, attn_mask=self.attn_mask)[0]

    def forward(self, x):
        x = x + self.attention(self.ln_1(x))
        x = x + self.mlp(self.ln_2(x))
        return x


class Transformer(nn.Module):
    def __init__(self, width, layers, heads, attn_mask=None):
        super().__init__()
        self.width = width
        self.layers = layers
        self.resblocks = nn.Sequential(*[ResidualAttentionBlock(width, heads, attn_mask) for _ in range(layers)])

    def forward(self, x):
        return self.resblocks(x)


class VisionTransformer(nn.Module):
    def __init__(self, input_resolution, patch_size, width, layers, heads, output_dim):
        super().__init__()
        self.input_resolution = input_resolution
        self.output_dim = output_dim
        self.conv1 = nn.Conv2d(3, width, kernel_size=patch_size, stride=patch_size, bias=False)
        scale = width ** -0.5
        self.class_embedding = nn.Parameter(scale * torch.randn(width))
        self.positional_embedding = nn.Parameter(scale * torch.randn((input_resolution // patch_size) ** 2 + 1, width))
        self.ln_pre = LayerNorm(width)
        self.transformer = Transformer(width, layers, heads)
        self.ln_post = LayerNorm(width)
        self.proj = nn.Parameter(scale * torch.randn(width, output_dim))

    def forward(self, x):
        x = self.conv1(x)
        x = x.reshape(x.shape[0], x.shape[1], -1)
        x = x.permute(0, 2, 1)
        x = torch.cat([self.class_embedding.to(x.dtype)
                       + torch.zeros(x.shape[0], 1, x.shape[-1], dtype=x.dtype, device=x.device), x], dim=1)
        x = x + self.positional_embedding.to(x.dtype)
        x = self.ln_pre(x)
        x = x.permute(1, 0, 2)
        x = self.transformer(x)
        x = x.permute(1, 0, 2)
        x = self.ln_post(x[:, 0, :])
        if self.proj is not None:
            x = x @ self.proj
        return x


class CLIP(nn.Module):
    def __init__(self, embed_dim, image_resolution, vision_layers, vision_width, vision_patch_size,
                 context_length, vocab_size, transformer_width, transformer_heads, transformer_layers):
        super().__init__()
        self.context_length = context_length
        if isinstance(vision_layers, (tuple, list)):
            vision_heads = vision_width * 32 // 64
            self.visual = ModifiedResNet(layers=vision_layers, output_dim=embed_dim, heads=vision_heads,
                                         input_resolution=image_resolution, width=vision_width)
        else:
            vision_heads = vision_width // 64
            self.visual = VisionTransformer(input_resolution=image_resolution, patch_size=vision_patch_size,
                                            width=vision_width, layers=vision_layers, heads=vision_heads,
                                            output_dim=embed_dim)
        self.transformer = Transformer(width=transformer_width, layers=transformer_layers, heads=transformer_heads,
                                       attn_mask=self.build_attention_mask())
        self.vocab_size = vocab_size
        self.token_embedding = nn.Embedding(vocab_size, transformer_width)
        self.positional_embedding = nn.Parameter(torch.empty(self.context_length, transformer_width))
        self.ln_final = LayerNorm(transformer_width)
        self.text_projection = nn.Parameter(torch.empty(transformer_width, embed_dim))
        self.logit_scale = nn.Parameter(torch.ones([]) * np.log(1 / 0.07))
        self.initialize_parameters()

    def initialize_parameters(self):
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        nn.init.normal_(self.positional_embedding, std=0.01)
        if isinstance(self.visual, ModifiedResNet):
            if self.visual.attnpool is not None:
                std = self.visual.attnpool.c_proj.in_features ** -0.5
                nn.init.normal_(self.visual.attnpool.q_proj.weight, std=std)
                nn.init.normal_(self.visual.attnpool.k_proj.weight, std=std)
                nn.init.normal_(self.visual.attnpool.v_proj.weight, std=std)
                nn.init.normal_(self.visual.attnpool.c_proj.weight, std=std)
            for resnet_block in [self.visual.layer1, self.visual.layer2, self.visual.layer3, self.visual.layer4]:
                for name, param in resnet_block.named_parameters():
                    if name.endswith("bn3.weight"):
                        nn.init.zeros_(param)
        proj_std = (self.transformer.width ** -0.5) * ((2 * self.transformer.layers) ** -0.5)
        attn_std = self.transformer.width ** -0.5
        fc_std = (2 * self.transformer.width) ** -0.5
        for block in self.transformer.resblocks:
            nn.init.normal_(block.attn.in_proj_weight, std=attn_std)
            nn.init.normal_(block.attn.out_proj.weight, std=proj_std)
            nn.init.normal_(block.mlp.c_fc.weight, std=fc_std)
            nn.init.normal_(block.mlp.c_proj.weight, std=proj_std)
        if self.text_projection is not None:
            nn.init.normal_(self.text_projection, std=self.transformer.width ** -0.5)

    def build_attention_mask(self):
        mask = torch.empty(self.context_length, self.context_length)
        mask.fill_(float("-inf"))
        mask.triu_(1)
        return mask

    @property
    def dtype(self):
        return self.visual.conv1.weight.dtype

    def encode_image(self, image):
        return self.visual(image.type(self.dtype))

    def encode_text(self, text):
        x = self.token_embedding(text).type(self.dtype)
        x = x + self.positional_embedding.type(self.dtype)
        x = x.permute(1, 0, 2)
        x = self.transformer(x)
        x = x.permute(1, 0, 2)
        x = self.ln_final(x).type(self.dtype)
        x = x[torch.arange(x.shape[0]), text.argmax(dim=-1)] @ self.text_projection
        return x

    def forward(self, image, text):
        image_features = self.encode_image(image)
        text_features = self.encode_text(text)
        image_features = image_features / image_features.norm(dim=1, keepdim=True)
        text_features = text_features / text_features.norm(dim=1, keepdim=True)
        logit_scale = self.logit_scale.exp()
        logits_per_image = logit_scale * image_features @ text_features.t()
        logits_per_text = logits_per_image.t()
        return logits_per_image, logits_per_text


def convert_weights(model):
    """OpenAI's convert_weights: conv, linear and attention weights and the projections to float16."""
    def _convert_weights_to_fp16(l):
        if isinstance(l, (nn.Conv1d, nn.Conv2d, nn.Linear)):
            l.weight.data = l.weight.data.half()
            if l.bias is not None:
                l.bias.data = l.bias.data.half()
        if isinstance(l, nn.MultiheadAttention):
            for attr in [*[f"{s}_proj_weight" for s in ["in", "q", "k", "v"]], "in_proj_bias", "bias_k", "bias_v"]:
                tensor = getattr(l, attr)
                if tensor is not None:
                    tensor.data = tensor.data.half()
        for name in ["text_projection", "proj"]:
            if hasattr(l, name):
                attr = getattr(l, name)
                if attr is not None:
                    attr.data = attr.data.half()
    model.apply(_convert_weights_to_fp16)


# ---- fixtures ----------------------------------------------------------------------------------------

def representable(t):
    """Rounds to bfloat16 and zeroes magnitudes below 2^-14: exact in float16, bfloat16 and float32."""
    r = t.to(torch.bfloat16).to(torch.float32)
    r[r.abs() < 2.0 ** -14] = 0.0
    return r


def build(name):
    torch.manual_seed(SEED + (0 if name == "vit" else 1))
    model = CLIP(**MODELS[name])
    with torch.no_grad():
        # Non-trivial BatchNorm statistics and gains, so a ResNet import that ignored them would fail.
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
                m.running_mean.uniform_(-0.3, 0.3)
                m.running_var.uniform_(0.5, 2.0)
                m.num_batches_tracked.fill_(1234)
        # Non-zero biases and LayerNorm affines everywhere.
        for pname, p in model.named_parameters():
            if (pname.endswith(".bias") or "ln_" in pname) and not pname.startswith("visual.bn"):
                p.add_(torch.randn_like(p) * 0.05)
        for _, t in list(model.named_parameters()) + list(model.named_buffers()):
            if t.dtype.is_floating_point:
                t.copy_(representable(t))
        model.logit_scale.fill_(float(representable(torch.tensor(math.log(1 / 0.07)))))
    return model.eval()


def images(size):
    """Three fixed 8-bit RGB images of size x size: a colour ramp, rings, a checkerboard with a square."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) / (size - 1)
    ramp = np.stack([xx, yy, 1 - xx * yy], axis=-1)
    r = np.hypot(xx - 0.4, yy - 0.6)
    rings = np.stack([0.5 + 0.5 * np.sin(r * 20), 0.5 + 0.5 * np.cos(r * 13), r / r.max()], axis=-1)
    check = (((np.floor(xx * 8) + np.floor(yy * 8)) % 2) * 0.8 + 0.1)
    board = np.stack([check, check * 0.5, 1 - check], axis=-1)
    board[size // 4:size // 2, size // 2:3 * size // 4] = (0.9, 0.2, 0.1)
    return [np.clip(np.round(a * 255), 0, 255).astype(np.uint8) for a in (ramp, rings, board)]


def normalise(pixels):
    x = torch.from_numpy(np.stack(pixels)).permute(0, 3, 1, 2).to(torch.float32) / 255.0
    mean = torch.tensor(MEAN, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(STD, dtype=torch.float32).view(1, 3, 1, 1)
    return (x - mean) / std


def captions(cfg):
    """Token ids given directly: [SOT, words..., EOT, 0...] with SOT = vocab-2 and EOT = vocab-1 (the largest)."""
    vocab, ctx = cfg["vocab_size"], cfg["context_length"]
    sot, eot = vocab - 2, vocab - 1
    words = [[17, 42, 99], [5, 120, 31, 77, 8, 123, 64], [125, 3, 3, 80, 11, 90, 60, 45, 12, 2, 100, 7, 9]]
    rows = []
    for w in words:
        row = [sot] + w + [eot]
        rows.append(row + [0] * (ctx - len(row)))
    return rows


def features(model, image, text):
    with torch.no_grad():
        fi = model.encode_image(image)
        ft = model.encode_text(text)
        logits, _ = model(image, text)
    return fi, ft, logits


def dtypes(state):
    return {k: str(v.dtype).replace("torch.", "") for k, v in state.items()}


def save_safetensors(state, path, dtype):
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    names = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int64: "I64"}
    for k, v in state.items():
        t = v.detach().contiguous()
        if t.dtype.is_floating_point:
            t = t.to(dtype)
        raw = t.view(torch.int16) if t.dtype in (torch.float16, torch.bfloat16) else t
        data = raw.numpy().astype(raw.numpy().dtype.newbyteorder("<")).tobytes()
        header[k] = {"dtype": names[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * ((8 - len(head) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for b in blobs:
            f.write(b)


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    types = {"F32": (np.float32, torch.float32), "F16": (np.float16, torch.float16),
             "BF16": (np.int16, torch.bfloat16), "I64": (np.int64, torch.int64), "F64": (np.float64, torch.float64)}
    out = OrderedDict()
    for k, v in header.items():
        if k == "__metadata__":
            continue
        npt, tt = types[v["dtype"]]
        b, e = v["data_offsets"]
        arr = np.frombuffer(data[b:e], dtype=np.dtype(npt).newbyteorder("<")).copy()
        t = torch.from_numpy(arr)
        if v["dtype"] == "BF16":
            t = t.view(torch.bfloat16)
        out[k] = t.reshape(v["shape"])
    return out


def make(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    summary = {}
    for name, cfg in MODELS.items():
        model = build(name)
        size = cfg["image_resolution"]
        pixels = images(size)
        files = []
        for i, p in enumerate(pixels):
            f = f"image-{i}-{size}.png"
            Image.fromarray(p, "RGB").save(os.path.join(out_dir, f))
            files.append(f)
        image = normalise(pixels)
        text = torch.tensor(captions(cfg), dtype=torch.long)
        fi, ft, logits = features(model, image, text)
        state = model.state_dict()
        # (a) state dict zip
        sd_path = os.path.join(out_dir, f"{name}.pytorch.pt")
        sd = OrderedDict((k, v.to(STATE_DICT_DTYPE[name]) if v.dtype.is_floating_point else v) for k, v in state.items())
        if name == "vit":
            ckpt = {"epoch": 3, "name": "fixture-vit",
                    "state_dict": OrderedDict(("module." + k, v) for k, v in sd.items()),
                    "optimizer": {"state": {}, "param_groups": [{"lr": 5e-4, "betas": (0.9, 0.98), "eps": 1e-6,
                                                                 "weight_decay": 0.2, "params": [0, 1, 2]}]}}
            torch.save(ckpt, sd_path)
        else:
            torch.save(sd, sd_path)
        # (b) TorchScript, OpenAI style
        ts_path = os.path.join(out_dir, f"{name}.torchscript.pt")
        ts_dtypes = save_torchscript_openai(model, cfg, ts_path, image, text)
        # (c) safetensors
        st_path = os.path.join(out_dir, f"{name}.safetensors")
        save_safetensors(state, st_path, SAFETENSORS_DTYPE[name])
        # Each file, read back with PyTorch, must give the reference.
        check_formats(name, model, cfg, out_dir, image, text, fi, ft, logits)
        ref = {
            "model": name, "architecture": {k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.items()},
            "torch_version": torch.__version__, "mean": MEAN, "std": STD, "images": files,
            "tokens": captions(cfg),
            "image_features": fi.tolist(), "text_features": ft.tolist(), "logits_per_image": logits.tolist(),
            "logit_scale": float(model.logit_scale),
            "files": {
                "pytorch": {"file": os.path.basename(sd_path), "layout": "training checkpoint, module. names"
                            if name == "vit" else "state dict", "dtype": str(STATE_DICT_DTYPE[name]).replace("torch.", "")},
                "torchscript": {"file": os.path.basename(ts_path), "dtypes": ts_dtypes},
                "safetensors": {"file": os.path.basename(st_path),
                                "dtype": str(SAFETENSORS_DTYPE[name]).replace("torch.", "")},
            },
            "state_dict": {k: list(v.shape) for k, v in state.items()},
        }
        with open(os.path.join(out_dir, f"{name}.json"), "w") as f:
            json.dump(ref, f, indent=1)
        summary[name] = sum(v.numel() for v in state.values())
    total = sum(os.path.getsize(os.path.join(out_dir, f)) for f in os.listdir(out_dir))
    print("parameters and buffers:", summary, "fixture bytes:", total)
    print("done")


def save_torchscript_openai(model, cfg, path, image, text):
    import copy
    m = copy.deepcopy(model)
    convert_weights(m)
    m.register_buffer("input_resolution", torch.tensor(cfg["image_resolution"]))
    m.register_buffer("context_length_", torch.tensor(cfg["context_length"]))
    # OpenAI's buffers are named context_length and vocab_size; the Python attributes of the same names
    # are plain ints in clip/model.py, so register them under their names after removing the ints.
    del m.context_length_
    del m.context_length
    del m.vocab_size
    m.register_buffer("context_length", torch.tensor(cfg["context_length"]))
    m.register_buffer("vocab_size", torch.tensor(cfg["vocab_size"]))
    # Trace in float32 (CPU has no half convolutions); the float16 tensors are restored before saving.
    half = {k for k, v in m.state_dict().items() if v.dtype == torch.float16}
    m32 = copy.deepcopy(m).float()
    traced = torch.jit.trace(m32, (image, text), check_trace=False)
    with torch.no_grad():
        for k, v in traced.state_dict().items():
            if k in half:
                v.data = v.data.half()
    params = dict(traced.named_parameters())
    bufs = dict(traced.named_buffers())
    for k in half:
        owner = traced
        parts = k.split(".")
        for p in parts[:-1]:
            owner = getattr(owner, p)
        t = (params.get(k) if k in params else bufs.get(k)).detach().half()
        setattr(owner, parts[-1], nn.Parameter(t, requires_grad=False) if k in params else t)
    torch.jit.save(traced, path)
    loaded = torch.jit.load(path)
    return {k: str(v.dtype).replace("torch.", "") for k, v in loaded.state_dict().items()}


def check_formats(name, model, cfg, out_dir, image, text, fi, ft, logits):
    loaders = {
        "pytorch": lambda p: torch.load(p, map_location="cpu"),
        "torchscript": lambda p: torch.jit.load(p, map_location="cpu").state_dict(),
        "safetensors": load_safetensors,
    }
    files = {"pytorch": f"{name}.pytorch.pt", "torchscript": f"{name}.torchscript.pt",
             "safetensors": f"{name}.safetensors"}
    for fmt, f in files.items():
        sd = loaders[fmt](os.path.join(out_dir, f))
        if "state_dict" in sd:
            sd = OrderedDict((k[len("module."):], v) for k, v in sd["state_dict"].items())
        for k in ("input_resolution", "context_length", "vocab_size"):
            sd.pop(k, None)
        m = CLIP(**cfg)
        m.load_state_dict(OrderedDict((k, v.float() if v.dtype.is_floating_point else v) for k, v in sd.items()))
        m.eval()
        a, b, c = features(m, image, text)
        err = max(rel(a, fi), rel(b, ft), rel(c, logits))
        print(f"{name} {fmt}: {f} read back by PyTorch {torch.__version__}, max relative difference {err:.2e}")
        if err != 0.0:
            raise SystemExit(f"{f}: its weights differ from the model's")


def rel(a, b):
    """Largest |a - b| / max(|b|, 0.01 max|b|): small elements are measured at 1% of the largest magnitude."""
    a, b = a.double(), b.double()
    return float(((a - b).abs() / b.abs().clamp_min(0.01 * float(b.abs().max()))).max())


def check(fixture_json, weights):
    with open(fixture_json) as f:
        ref = json.load(f)
    cfg = dict(ref["architecture"])
    if isinstance(cfg["vision_layers"], list):
        cfg["vision_layers"] = tuple(cfg["vision_layers"])
    out_dir = os.path.dirname(fixture_json)
    pixels = [np.array(Image.open(os.path.join(out_dir, f)).convert("RGB")) for f in ref["images"]]
    image = normalise(pixels)
    text = torch.tensor(ref["tokens"], dtype=torch.long)
    with open(weights, "rb") as f:
        magic = f.read(2)
    sd = torch.load(weights, map_location="cpu") if magic == b"PK" else load_safetensors(weights)
    kinds = {str(v.dtype).replace("torch.", "") for v in sd.values()}
    m = CLIP(**cfg)
    m.load_state_dict(sd, strict=True)
    m.eval()
    fi, ft, logits = features(m, image, text)
    err_i = rel(fi, torch.tensor(ref["image_features"]))
    err_t = rel(ft, torch.tensor(ref["text_features"]))
    err_l = rel(logits, torch.tensor(ref["logits_per_image"]))
    nbt = [int(v) for k, v in sd.items() if k.endswith("num_batches_tracked")]
    print(f"{weights}: {len(sd)} tensors ({', '.join(sorted(kinds))}), loaded strictly by PyTorch "
          f"{torch.__version__}; max relative difference to {os.path.basename(fixture_json)}: image features "
          f"{err_i:.2e}, text features {err_t:.2e}, logits {err_l:.2e}"
          + (f"; num_batches_tracked {sorted(set(nbt))}" if nbt else ""))
    if max(err_i, err_t, err_l) > 1e-4:
        raise SystemExit(1)


FULL_SIZE = {
    "ViT-B-32": dict(embed_dim=512, image_resolution=224, vision_layers=12, vision_width=768, vision_patch_size=32,
                     context_length=77, vocab_size=49408, transformer_width=512, transformer_heads=8,
                     transformer_layers=12),
    "RN50": dict(embed_dim=1024, image_resolution=224, vision_layers=(3, 4, 6, 3), vision_width=64,
                 vision_patch_size=None, context_length=77, vocab_size=49408, transformer_width=512,
                 transformer_heads=8, transformer_layers=12),
}


def full_size(out_dir):
    """OpenAI's ViT-B/32 and RN50 architectures with random weights, saved as OpenAI's archives, with references."""
    os.makedirs(out_dir, exist_ok=True)
    pixels = images(224)[:2]
    files = []
    for i, p in enumerate(pixels):
        f = f"image-{i}-224.png"
        Image.fromarray(p, "RGB").save(os.path.join(out_dir, f))
        files.append(f)
    image = normalise(pixels)
    for name, cfg in FULL_SIZE.items():
        torch.manual_seed(SEED)
        model = CLIP(**cfg)
        with torch.no_grad():
            for m in model.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.weight.uniform_(0.5, 1.5)
                    m.running_mean.uniform_(-0.1, 0.1)
                    m.running_var.uniform_(0.5, 2.0)
            for _, t in list(model.named_parameters()) + list(model.named_buffers()):
                if t.dtype.is_floating_point:
                    t.copy_(representable(t))
        model.eval()
        text = torch.tensor(captions(cfg)[:2], dtype=torch.long)
        fi, ft, logits = features(model, image, text)
        path = os.path.join(out_dir, f"{name}.pt")
        save_torchscript_openai(model, cfg, path, image, text)
        ref = {"model": name, "architecture": {k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.items()},
               "torch_version": torch.__version__, "mean": MEAN, "std": STD,
               "images": files, "tokens": captions(cfg)[:2], "image_features": fi.tolist(),
               "text_features": ft.tolist(), "logits_per_image": logits.tolist(),
               "logit_scale": float(model.logit_scale),
               "files": {"torchscript": {"file": f"{name}.pt"}}}
        with open(os.path.join(out_dir, f"{name}.json"), "w") as f:
            json.dump(ref, f)
        print(path, os.path.getsize(path), "bytes")
    print("done")


if __name__ == "__main__":
    torch.set_num_threads(1)
    if len(sys.argv) == 3 and sys.argv[1] == "--full-size":
        full_size(sys.argv[2])
    elif len(sys.argv) >= 4 and sys.argv[1] == "--check" and len(sys.argv) % 2 == 0:
        for i in range(2, len(sys.argv), 2):
            check(sys.argv[i], sys.argv[i + 1])
    else:
        here = os.path.dirname(os.path.abspath(__file__))
        default = os.path.join(here, "..", "..", "training", "src", "test", "resources", "reference")
        make(os.path.normpath(sys.argv[1] if len(sys.argv) > 1 else default))
