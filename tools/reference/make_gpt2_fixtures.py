#!/usr/bin/python3
"""Reference GPT-2 fixtures for ClipSpark's GPT-2 weight import tests, made with PyTorch.

Builds a tiny GPT-2 with the mathematics of Hugging Face's GPT2LMHeadModel (transformers/models/gpt2/
modeling_gpt2.py, Apache-2.0; written out below in plain PyTorch, so the script needs neither `transformers`
nor `safetensors`): learned positions, pre-norm blocks, Conv1D weights stored [in, out], causal attention
scaled by 1/sqrt(head width), gelu_new (the tanh approximation), a final LayerNorm and an output head tied to
the token embedding. Its vocabulary is the committed 512-token GPT-2 BPE fixture
(training/src/test/resources/gpt2-bpe/), so the recorded token ids are real ids of that tokenizer.

The model has 4 heads of width 8 (not GPT-2's 64), so the number of heads cannot be guessed from the shapes:
the importer must take it from config.json (or a given model).

Files written to OUT_DIR (default training/src/test/resources/gpt2-weights/), under 1 MB in all:

  config.json              Hugging Face's GPT2Config fields (model_type gpt2, n_head, n_positions, ...)
  model.safetensors        GPT2Model's state dict with plain names (wte.weight, h.0.attn.c_attn.weight, ...),
                           float32, with the h.N.attn.bias causal-mask buffers that Hugging Face's converted
                           model.safetensors files carry (float32 [1, 1, n_ctx, n_ctx])
  model-bf16.safetensors   the same parameters in bfloat16, without buffers (as newer transformers save)
  pytorch_model.bin        torch.save of GPT2LMHeadModel's state dict in float16: transformer.* names,
                           lm_head.weight (the same tensor as transformer.wte.weight) and the older files'
                           h.N.attn.bias (bool) and h.N.attn.masked_bias buffers
  reference.json           the architecture, a few texts with their token ids (<|endoftext|> text
                           <|endoftext|>, encoded by OpenAI's encoder.py from gpt2_bpe_reference.py) and the
                           float32 logits [t, vocab] the model computes for each in eval mode

Every weight is rounded to a value float16 and bfloat16 both hold exactly (bfloat16 rounding, magnitudes
below 2^-14 set to 0), so the three files hold the same float32 values whatever dtype they store them in.
The script reads every file back with PyTorch and checks the logits before writing reference.json.

Usage (Debian's Python with python3-torch, python3-numpy, python3-regex):
  /usr/bin/python3 tools/reference/make_gpt2_fixtures.py [OUT_DIR]
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
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from gpt2_bpe_reference import Encoder  # noqa: E402  (OpenAI's encoder.py)

SEED = 20261203
TOKENIZER_DIR = os.path.join(ROOT, "training", "src", "test", "resources", "gpt2-bpe")
CONFIG = dict(vocab_size=512, n_positions=32, n_embd=32, n_layer=2, n_head=4, layer_norm_epsilon=1e-5)
TEXTS = ["a red circle", "A large orange diamond on a purple background.",
         "Zürich: a Grey star, don't"]


# ---- GPT-2 as Hugging Face's modeling_gpt2.py computes it (eval mode, no dropout) --------------------

class Conv1D(nn.Module):
    """A linear layer with its weight stored [in, out]: y = x W + b (Hugging Face's Conv1D)."""

    def __init__(self, nf, nx):
        super().__init__()
        self.nf = nf
        self.weight = nn.Parameter(torch.empty(nx, nf).normal_(std=0.02))
        self.bias = nn.Parameter(torch.zeros(nf))

    def forward(self, x):
        size_out = x.size()[:-1] + (self.nf,)
        return torch.addmm(self.bias, x.reshape(-1, x.size(-1)), self.weight).view(size_out)


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


class Attention(nn.Module):
    def __init__(self, n_embd, n_head, n_ctx):
        super().__init__()
        self.n_head = n_head
        self.split = n_embd
        # Older transformers saved these buffers with the weights; they hold no learned values.
        self.register_buffer("bias", torch.tril(torch.ones(n_ctx, n_ctx, dtype=torch.bool)).view(1, 1, n_ctx, n_ctx))
        self.register_buffer("masked_bias", torch.tensor(-1e4))
        self.c_attn = Conv1D(3 * n_embd, n_embd)
        self.c_proj = Conv1D(n_embd, n_embd)

    def heads(self, x):
        b, t, e = x.shape
        return x.view(b, t, self.n_head, e // self.n_head).permute(0, 2, 1, 3)

    def forward(self, x):
        q, k, v = self.c_attn(x).split(self.split, dim=2)
        q, k, v = self.heads(q), self.heads(k), self.heads(v)
        w = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(v.size(-1))
        t = q.size(-2)
        causal = self.bias[:, :, :t, :t]
        w = torch.where(causal, w, torch.tensor(torch.finfo(w.dtype).min, dtype=w.dtype))
        w = F.softmax(w, dim=-1)
        a = torch.matmul(w, v).permute(0, 2, 1, 3).contiguous()
        a = a.view(a.size(0), a.size(1), -1)
        return self.c_proj(a)


class Mlp(nn.Module):
    def __init__(self, n_embd):
        super().__init__()
        self.c_fc = Conv1D(4 * n_embd, n_embd)
        self.c_proj = Conv1D(n_embd, 4 * n_embd)

    def forward(self, x):
        return self.c_proj(gelu_new(self.c_fc(x)))


class Block(nn.Module):
    def __init__(self, n_embd, n_head, n_ctx, eps):
        super().__init__()
        self.ln_1 = nn.LayerNorm(n_embd, eps=eps)
        self.attn = Attention(n_embd, n_head, n_ctx)
        self.ln_2 = nn.LayerNorm(n_embd, eps=eps)
        self.mlp = Mlp(n_embd)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class Gpt2Model(nn.Module):
    def __init__(self, vocab_size, n_positions, n_embd, n_layer, n_head, layer_norm_epsilon):
        super().__init__()
        self.wte = nn.Embedding(vocab_size, n_embd)
        self.wpe = nn.Embedding(n_positions, n_embd)
        self.h = nn.ModuleList([Block(n_embd, n_head, n_positions, layer_norm_epsilon) for _ in range(n_layer)])
        self.ln_f = nn.LayerNorm(n_embd, eps=layer_norm_epsilon)

    def forward(self, ids):
        positions = torch.arange(ids.size(-1), dtype=torch.long).unsqueeze(0)
        x = self.wte(ids) + self.wpe(positions)
        for block in self.h:
            x = block(x)
        return self.ln_f(x)


class Gpt2LMHeadModel(nn.Module):
    def __init__(self, **cfg):
        super().__init__()
        self.transformer = Gpt2Model(**cfg)
        self.lm_head = nn.Linear(cfg["n_embd"], cfg["vocab_size"], bias=False)
        self.lm_head.weight = self.transformer.wte.weight  # tied

    def forward(self, ids):
        return self.lm_head(self.transformer(ids))


# ---- fixtures -----------------------------------------------------------------------------------------

def representable(t):
    """Rounds to bfloat16 and zeroes magnitudes below 2^-14: exact in float16, bfloat16 and float32."""
    r = t.to(torch.bfloat16).to(torch.float32)
    r[r.abs() < 2.0 ** -14] = 0.0
    return r


def build():
    torch.manual_seed(SEED)
    model = Gpt2LMHeadModel(**CONFIG)
    with torch.no_grad():
        # Larger than GPT-2's N(0, 0.02) so every part visibly shapes the logits; non-trivial LayerNorm affines
        # and biases everywhere, so an import that dropped or transposed any tensor would fail.
        for name, p in model.transformer.named_parameters():
            if name.endswith("ln_1.weight") or name.endswith("ln_2.weight") or name == "ln_f.weight":
                p.uniform_(0.5, 1.5)
            elif name.endswith(".bias"):
                p.normal_(std=0.1)
            elif name == "wte.weight":
                p.normal_(std=0.5)
            else:
                p.normal_(std=0.25)
            p.copy_(representable(p))
    return model.eval()


def save_safetensors(state, path, dtype):
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    names = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int64: "I64"}
    for k, v in state.items():
        t = v.detach().contiguous()
        if t.dtype.is_floating_point and dtype is not None:
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
             "BF16": (np.int16, torch.bfloat16)}
    out = OrderedDict()
    for k, v in header.items():
        if k == "__metadata__":
            continue
        npt, _ = types[v["dtype"]]
        b, e = v["data_offsets"]
        t = torch.from_numpy(np.frombuffer(data[b:e], dtype=np.dtype(npt).newbyteorder("<")).copy())
        if v["dtype"] == "BF16":
            t = t.view(torch.bfloat16)
        out[k] = t.reshape(v["shape"])
    return out


def load_into_fresh(state, prefixed):
    """A fresh model (other seed) with `state` loaded strictly: every weight must come from the file."""
    torch.manual_seed(SEED + 1)
    model = Gpt2LMHeadModel(**CONFIG).eval()
    state = OrderedDict((k, v.to(torch.float32) if v.dtype.is_floating_point else v) for k, v in state.items())
    if prefixed:
        model.load_state_dict(state, strict=True)
    else:
        buffers = {k: v for k, v in model.transformer.state_dict().items() if k not in state}
        full = OrderedDict(state)
        full.update(buffers)
        model.transformer.load_state_dict(full, strict=True)
    return model


def main(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(TOKENIZER_DIR, "vocab.json"), encoding="utf-8") as f:
        vocab = json.load(f)
    with open(os.path.join(TOKENIZER_DIR, "merges.txt"), encoding="utf-8") as f:
        merges = [tuple(line.split()) for line in f.read().split("\n")[1:] if line]
    assert len(vocab) == CONFIG["vocab_size"], len(vocab)
    enc = Encoder(vocab, merges)
    eot = vocab["<|endoftext|>"]
    rows = [[eot] + enc.encode(t) + [eot] for t in TEXTS]
    assert all(len(r) <= CONFIG["n_positions"] for r in rows), [len(r) for r in rows]

    model = build()
    with torch.no_grad():
        logits = [model(torch.tensor([r]))[0] for r in rows]

    lm_state = model.state_dict()  # transformer.* + lm_head.weight (tied) + buffers
    assert torch.equal(lm_state["lm_head.weight"], lm_state["transformer.wte.weight"])
    params = OrderedDict((k, v) for k, v in model.transformer.state_dict().items()
                         if not k.endswith(".attn.bias") and not k.endswith(".attn.masked_bias"))
    with_mask = OrderedDict()
    for k, v in params.items():
        with_mask[k] = v
        if k.endswith("attn.c_proj.bias"):  # after each block's attention parameters, as HF's files have them
            layer = k.split(".")[1]
            with_mask["h.%s.attn.bias" % layer] = model.transformer.h[int(layer)].attn.bias.to(torch.float32)

    save_safetensors(with_mask, os.path.join(out_dir, "model.safetensors"), torch.float32)
    save_safetensors(params, os.path.join(out_dir, "model-bf16.safetensors"), torch.bfloat16)
    half = OrderedDict((k, v.to(torch.float16) if v.dtype.is_floating_point else v) for k, v in lm_state.items())
    half["lm_head.weight"] = half["transformer.wte.weight"]  # one shared storage, as torch.save keeps ties
    half._metadata = lm_state._metadata  # state_dict()'s attribute, pickled with it in real files
    torch.save(half, os.path.join(out_dir, "pytorch_model.bin"))

    config = dict(CONFIG, architectures=["GPT2LMHeadModel"], model_type="gpt2", n_ctx=CONFIG["n_positions"],
                  activation_function="gelu_new", bos_token_id=eot, eos_token_id=eot, resid_pdrop=0.1,
                  embd_pdrop=0.1, attn_pdrop=0.1, initializer_range=0.02, scale_attn_weights=True,
                  use_cache=True)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)

    # Each file, read back with PyTorch into a fresh model, must give the same logits.
    checks = {
        "model.safetensors": (load_safetensors(os.path.join(out_dir, "model.safetensors")), False),
        "model-bf16.safetensors": (load_safetensors(os.path.join(out_dir, "model-bf16.safetensors")), False),
        "pytorch_model.bin": (torch.load(os.path.join(out_dir, "pytorch_model.bin")), True),
    }
    for name, (state, prefixed) in checks.items():
        if not prefixed:
            state = OrderedDict((k, v) for k, v in state.items() if not k.endswith(".attn.bias"))
        m = load_into_fresh(state, prefixed)
        with torch.no_grad():
            for r, ref in zip(rows, logits):
                got = m(torch.tensor([r]))[0]
                assert torch.equal(got, ref), (name, (got - ref).abs().max())

    reference = {
        "config": CONFIG, "torch_version": torch.__version__,
        "tokenizer": "training/src/test/resources/gpt2-bpe",
        "texts": TEXTS, "tokens": rows,
        "logits": [[[float("%.8g" % x) for x in row] for row in l.tolist()] for l in logits],
        "parameters": sum(v.numel() for v in params.values()),
        "files": {"model.safetensors": "float32, plain names, h.N.attn.bias buffers",
                  "model-bf16.safetensors": "bfloat16, plain names",
                  "pytorch_model.bin": "float16, GPT2LMHeadModel names (transformer.*, lm_head.weight), "
                                       "h.N.attn.bias and h.N.attn.masked_bias buffers"},
    }
    with open(os.path.join(out_dir, "reference.json"), "w") as f:
        json.dump(reference, f, separators=(",", ":"))
    total = sum(os.path.getsize(os.path.join(out_dir, f)) for f in os.listdir(out_dir))
    print("parameters:", reference["parameters"], "token rows:", [len(r) for r in rows], "fixture bytes:", total)


if __name__ == "__main__":
    if len(sys.argv) > 2:
        sys.exit("usage: make_gpt2_fixtures.py [OUT_DIR]")
    main(sys.argv[1] if len(sys.argv) == 2 else os.path.join(ROOT, "training", "src", "test", "resources",
                                                             "gpt2-weights"))
