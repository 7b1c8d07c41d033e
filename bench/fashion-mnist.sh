#!/usr/bin/env bash
# Fashion-MNIST benchmark of the evaluation (docs/benchmarks.md#evaluation): trains the tiny ViT CLIP on N
# Fashion-MNIST training images captioned from their labels (caption templates that are none of the
# evaluation's), then runs zero-shot on the whole test split (10,000 images, ensembled vs single template) and
# linear probes on learned features and on raw pixels.
#
#   bench/fashion-mnist.sh [OUT] [N]        (needs Debian's dataset-fashion-mnist; default OUT fmnist-bench, N 20000)
#
# Environment: EPOCHS (5), PROBE_ROWS (eval.max-rows for the probes; 0 = all 60,000/10,000), PROBE_ITER (300).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$(realpath -m "${1:-fmnist-bench}")"
N="${2:-20000}"
EPOCHS="${EPOCHS:-5}"
PROBE_ROWS="${PROBE_ROWS:-0}"
PROBE_ITER="${PROBE_ITER:-300}"
FM=/usr/share/datasets/fashion-mnist
CLIP="$ROOT/bin/clip"
[ -f "$FM/train-images-idx3-ubyte.gz" ] || { echo "Install Debian's dataset-fashion-mnist first" >&2; exit 2; }
mkdir -p "$OUT"
T0=$(date +%s)
# 1. Captioned PNGs (folder: source) and a corpus of the captions, written with Python's standard library.
python3 - "$FM" "$OUT" "$N" <<'PY'
import gzip, os, random, struct, sys, zlib
fm, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
names = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle boot"]
captions = ["a photo of a %s", "a %s on a black background", "black and white picture of a %s", "a %s",
            "product shot: %s", "an image of the %s", "my new %s", "a grey %s, small and centred"]
src = os.path.join(out, "source"); os.makedirs(src, exist_ok=True)
def png(pixels, w, h):
    raw = b"".join(b"\x00" + pixels[y * w:(y + 1) * w] for y in range(h))
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
rnd = random.Random(3)
with gzip.open(os.path.join(fm, "train-images-idx3-ubyte.gz")) as im, \
     gzip.open(os.path.join(fm, "train-labels-idx1-ubyte.gz")) as lb, \
     open(os.path.join(out, "corpus.txt"), "w") as corpus:
    im.read(16); lb.read(8)
    for i in range(n):
        pixels = im.read(784); label = lb.read(1)[0]
        caption = rnd.choice(captions) % names[label]
        with open(os.path.join(src, "fm-%05d.png" % i), "wb") as f: f.write(png(pixels, 28, 28))
        with open(os.path.join(src, "fm-%05d.txt" % i), "w") as f: f.write(caption)
        corpus.write(caption + "\n")
PY
CONF="$ROOT/conf/demo.conf"
"$CLIP" build-queries --corpus "$OUT/corpus.txt" --out "$OUT/queries" --conf "$CONF"
"$CLIP" build-dataset --queries "$OUT/queries" --source "folder:$OUT/source" --out "$OUT/dataset" --conf "$CONF" \
    --set image.size=32 --set balance.max-per-query=1000000
"$CLIP" train-tokenizer --data "$OUT/dataset" --out "$OUT/merges.txt" --set tokenizer.vocab-size=600
T1=$(date +%s)
"$CLIP" train --data "$OUT/dataset" --model tiny-vit --tokenizer "$OUT/merges.txt" --out "$OUT/run" --conf "$CONF" \
    --set tokenizer.vocab-size=600 --set train.batch-size=100 --set train.epochs="$EPOCHS" \
    --set train.learning-rate=3e-3 --set train.log-every=100 --set train.checkpoint-every=500
T2=$(date +%s)
"$CLIP" evaluate --checkpoint "$OUT/run" --task zeroshot --dataset "idx:$FM" --compare-templates --out "$OUT/zeroshot"
T3=$(date +%s)
PROBE=(--task linear-probe --dataset "idx:$FM" --set eval.max-rows="$PROBE_ROWS" --set eval.probe.max-iterations="$PROBE_ITER"
       --set "eval.probe.reg-params=[1e-5,1e-4,1e-3,1e-2]")
"$CLIP" evaluate --checkpoint "$OUT/run" "${PROBE[@]}" --features image --out "$OUT/probe-image"
T4=$(date +%s)
"$CLIP" evaluate "${PROBE[@]}" --features pixels --out "$OUT/probe-pixels"
T5=$(date +%s)
echo "seconds: data+queries+dataset+tokenizer $((T1-T0)), train $((T2-T1)), zeroshot $((T3-T2)),"\
  "probe on features $((T4-T3)), probe on pixels $((T5-T4))"
