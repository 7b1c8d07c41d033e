#!/usr/bin/python3
"""Loads files written by `clip export-weights` with open_clip and compares its features with a reference.

  /usr/bin/python3 tools/reference/check_open_clip.py NAME REFERENCE_JSON WEIGHTS [NAME JSON WEIGHTS ...]

NAME is open_clip's model name (ClipSpark's towers use QuickGELU: ViT-B-32-quickgelu, RN50-quickgelu, ...),
REFERENCE_JSON a reference written by make_clip_fixtures.py (e.g. --full-size DIR's ViT-B-32.json), WEIGHTS the
export of the imported reference model. Each is loaded with open_clip.create_model_and_transforms(NAME,
pretrained=WEIGHTS), which loads the state dict strictly; the image features, text features and logits of the
reference's images and captions are compared with PyTorch's recorded ones (exit 1 above 1e-4 relative). Needs
open_clip, which Debian does not package (see README.md beside this script).
"""
import json, os, sys
import numpy as np, torch
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_clip_fixtures as m
from PIL import Image
import open_clip

def run(name, ref_json, weights):
    ref = json.load(open(ref_json))
    d = os.path.dirname(ref_json)
    pixels = [np.array(Image.open(os.path.join(d, f)).convert("RGB")) for f in ref["images"]]
    image = m.normalise(pixels)
    text = torch.tensor(ref["tokens"], dtype=torch.long)
    model, _, _ = open_clip.create_model_and_transforms(name, pretrained=weights)
    model.eval()
    with torch.no_grad():
        fi = model.encode_image(image)
        ft = model.encode_text(text)
        a = fi / fi.norm(dim=-1, keepdim=True)
        b = ft / ft.norm(dim=-1, keepdim=True)
        logits = model.logit_scale.exp() * a @ b.t()
    e = [m.rel(fi, torch.tensor(ref["image_features"])), m.rel(ft, torch.tensor(ref["text_features"])),
         m.rel(logits, torch.tensor(ref["logits_per_image"]))]
    print(f"open_clip {open_clip.__version__} create_model_and_transforms('{name}', pretrained='{weights}') on torch "
          f"{torch.__version__}: largest relative difference to the PyTorch reference: image {e[0]:.2e}, text {e[1]:.2e}, logits {e[2]:.2e}")
    return max(e)

torch.set_num_threads(2)
worst = 0
for i in range(1, len(sys.argv), 3):
    worst = max(worst, run(sys.argv[i], sys.argv[i + 1], sys.argv[i + 2]))
sys.exit(0 if worst < 1e-4 else 1)
