#!/usr/bin/python3
"""Independent reference for ClipSpark's caption metrics (BLEU-1..4 and CIDEr-D, as coco-caption computes them).

Writes a JSON fixture of candidate/reference caption sets with their expected scores, which
evaluation/src/test/java/dev/clipspark/evaluation/metrics/CaptionMetricsTest.java checks the Java code against
(within 1e-9).

- Tokenisation: the rules documented in CaptionTokenizer.java (lower case, PTB-like words and clitics, coco's
  punctuation removal), written here from the description, not translated from the Java code.
- BLEU: coco-caption's BleuScorer ("closest" reference length, corpus level, the 1e-15 / 1e-9 smoothing),
  re-written from its published definition (Papineni et al. 2002; pycocoevalcap/bleu/bleu_scorer.py's rules).
  Where every corpus n-gram precision is non-zero and every candidate has at least 4 tokens, NLTK's corpus_bleu (Debian's python3-nltk, an independent
  implementation) must agree to 1e-9: the script asserts it.
- CIDEr-D: from Vedantam et al. 2015 and coco-caption's CIDEr-D description (pycocoevalcap/cider/cider_scorer.py):
  tf-idf n-gram vectors (n = 1..4) with document frequencies from the references, candidate weights clipped by
  the reference's, cosine per n, Gaussian length penalty with sigma 6 (lengths counted as coco's code counts them:
  bigrams), x 10, mean over references, over n, then over images.

Usage: /usr/bin/python3 tools/reference/caption_metrics_reference.py OUT_DIR
"""
import json
import math
import os
import random
import sys
from collections import Counter

PUNCT = {".", "?", "!", ",", ":", ";", "-", "'", "`", '"', "(", ")", "[", "]", "{", "}",
         "\u2018", "\u2019", "\u201c", "\u201d", "\u2013", "\u2014", "\u2026"}
CLITICS = {"s", "re", "ve", "ll", "d", "m"}


def tokenize(text):
    s = text.lower()
    out = []
    i = 0
    while i < len(s):
        ch = s[i]
        if ch.isspace():
            i += 1
            continue
        if ch.isalnum():
            j = i + 1
            while j < len(s):
                if s[j].isalnum():
                    j += 1
                    continue
                nxt = s[j + 1] if j + 1 < len(s) else ""
                if nxt.isalnum() and (s[j] in "-.'" or (s[j] == "," and s[j - 1].isdigit() and nxt.isdigit())):
                    j += 1
                    continue
                break
            word = s[i:j]
            if len(word) > 3 and word.endswith("n't"):
                out += [word[:-3], "n't"]
            elif "'" in word[1:] and word[word.rindex("'") + 1:] in CLITICS:
                k = word.rindex("'")
                out += [word[:k], word[k:]]
            else:
                out.append(word)
            i = j
            continue
        if ch not in PUNCT:
            out.append(ch)
        i += 1
    return out


def ngrams(tokens, n_max=4):
    c = Counter()
    for n in range(1, n_max + 1):
        for i in range(len(tokens) - n + 1):
            c[tuple(tokens[i:i + n])] += 1
    return c


def bleu(cands, refs, n_max=4):
    guess = [0] * n_max
    correct = [0] * n_max
    testlen = 0
    reflen = 0
    for cand, rs in zip(cands, refs):
        maxref = Counter()
        for r in rs:
            for g, k in ngrams(r, n_max).items():
                maxref[g] = max(maxref[g], k)
        lengths = [len(r) for r in rs]
        reflen += min((abs(l - len(cand)), l) for l in lengths)[1]
        testlen += len(cand)
        for k in range(n_max):
            guess[k] += max(0, len(cand) - k)
        for g, k in ngrams(cand, n_max).items():
            correct[len(g) - 1] += min(k, maxref.get(g, 0))
    scores = []
    prod = 1.0
    for k in range(n_max):
        prod *= (correct[k] + 1e-15) / (guess[k] + 1e-9)
        scores.append(prod ** (1.0 / (k + 1)))
    ratio = (testlen + 1e-15) / (reflen + 1e-9)
    if ratio < 1:
        scores = [b * math.exp(1 - 1 / ratio) for b in scores]
    return scores, correct


def cider_d(cands, refs, n_max=4, sigma=6.0):
    df = Counter()
    for rs in refs:
        seen = set()
        for r in rs:
            seen.update(ngrams(r, n_max).keys())
        for g in seen:
            df[g] += 1
    log_n = math.log(float(len(refs)))

    def vec(tokens):
        weights = [dict() for _ in range(n_max)]
        norm = [0.0] * n_max
        length = 0
        for g, tf in ngrams(tokens, n_max).items():
            n = len(g) - 1
            w = float(tf) * (log_n - math.log(max(1.0, df[g])))
            weights[n][g] = w
            norm[n] += w * w
            if n == 1:
                length += tf
        return weights, [math.sqrt(x) for x in norm], length

    per_image = []
    for cand, rs in zip(cands, refs):
        wc, nc, lc = vec(cand)
        acc = [0.0] * n_max
        for r in rs:
            wr, nr, lr = vec(r)
            delta = float(lc - lr)
            for n in range(n_max):
                v = 0.0
                for g, w in wc[n].items():
                    v += min(w, wr[n].get(g, 0.0)) * wr[n].get(g, 0.0)
                if nc[n] != 0 and nr[n] != 0:
                    v /= nc[n] * nr[n]
                acc[n] += v * math.e ** (-(delta ** 2) / (2 * sigma ** 2))
        per_image.append(sum(acc) / n_max / len(rs) * 10.0)
    return sum(per_image) / len(per_image), per_image


COLOURS = ["red", "green", "blue", "yellow", "purple", "orange", "black", "white"]
SHAPES = ["circle", "square", "triangle", "star", "cross", "ring"]
PLACES = ["on a white background", "in the corner", "near the top", "at the centre", "on a grey field",
          "beside a small dot"]
EXTRAS = ["A", "The", "There's", "It's a", "This is a", "Here, a", "Look: a", "Don't miss the"]
PUNCTS = ["", ".", "!", "...", " (small).", ", drawn by hand.", " - clearly.", "; again?", " & co.",
          " \u201cnice\u201d", " 3.5 cm", " 1,000 px", " well-known", " the dog's toy", " isn't it"]


def caption(rng, colour, shape):
    words = [rng.choice(EXTRAS), colour, shape, rng.choice(PLACES)]
    text = " ".join(words) + rng.choice(PUNCTS)
    return text.upper() if rng.random() < 0.05 else text


def perturb(rng, text):
    words = text.split()
    for _ in range(rng.randint(0, 3)):
        op = rng.random()
        if op < 0.3 and len(words) > 1:
            del words[rng.randrange(len(words))]
        elif op < 0.6:
            words[rng.randrange(len(words))] = rng.choice(COLOURS + SHAPES)
        else:
            words.insert(rng.randrange(len(words) + 1), rng.choice(["big", "tiny", "a", "of", "the"]))
    return " ".join(words)


def corpus(rng, images):
    cands, refs = [], []
    for _ in range(images):
        colour, shape = rng.choice(COLOURS), rng.choice(SHAPES)
        rs = [caption(rng, colour, shape) for _ in range(rng.randint(1, 5))]
        u = rng.random()
        if u < 0.1:
            cand = rs[0]
        elif u < 0.15:
            cand = ""
        elif u < 0.25:
            cand = caption(rng, rng.choice(COLOURS), rng.choice(SHAPES))
        elif u < 0.3:
            cand = "a " + shape
        else:
            cand = perturb(rng, rng.choice(rs))
        cands.append(cand)
        refs.append(rs)
    return cands, refs


def main():
    out_dir = sys.argv[1]
    rng = random.Random(20260515)
    corpora = []
    nltk_checked = 0
    for c in range(60):
        images = [1, 2, 3, 5, 8, 13][c % 6]
        cands, refs = corpus(rng, images)
        tc = [tokenize(x) for x in cands]
        tr = [[tokenize(x) for x in rs] for rs in refs]
        scores, correct = bleu(tc, tr)
        mean, per_image = cider_d(tc, tr)
        # NLTK counts a candidate shorter than n as one n-gram (its denominator is max(1, count)), coco as none:
        # compare where every candidate has 4 tokens or more and every corpus precision is non-zero.
        if all(k > 0 for k in correct) and all(len(t) >= 4 for t in tc):
            from nltk.translate.bleu_score import corpus_bleu
            for n in range(1, 5):
                w = tuple([1.0 / n] * n)
                expected = corpus_bleu(tr, tc, weights=w)
                assert abs(expected - scores[n - 1]) < 1e-9, (c, n, expected, scores[n - 1])
            nltk_checked += 1
        corpora.append({"candidates": cands, "references": refs,
                        "candidate_tokens": tc, "reference_tokens": tr,
                        "bleu": scores, "cider_d": mean, "cider_d_per_image": per_image})
    sets = sum(len(c["candidates"]) for c in corpora)
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "caption-metrics.json"), "w", encoding="utf-8") as f:
        json.dump({"generator": "tools/reference/caption_metrics_reference.py", "corpora": corpora}, f,
                  ensure_ascii=False, indent=None, separators=(",", ":"))
        f.write("\n")
    print("wrote %d corpora, %d candidate/reference sets; BLEU agreed with NLTK on %d corpora"
          % (len(corpora), sets, nltk_checked))


if __name__ == "__main__":
    main()
