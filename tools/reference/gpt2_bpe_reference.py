#!/usr/bin/python3
"""Reference fixtures for ClipSpark's GPT-2 byte-level BPE tokenizer (training/.../tokenizer/Gpt2Tokenizer).

Run with Debian's Python and its `regex` package (apt-get install python3-regex):

    /usr/bin/python3 tools/reference/gpt2_bpe_reference.py training/src/test/resources/gpt2-bpe

It writes, deterministically (fixed seed, no network, no model files):
  train.txt      the training texts, one JSON string per line (texts may hold newlines)
  vocab.json     a small GPT-2-style vocabulary learned from train.txt: the 256 byte symbols in GPT-2's order,
                 then one token per merge, then <|endoftext|> (512 tokens: 255 merges)
  merges.txt     the merges, GPT-2's format ("#version: 0.2" then "left right" per line)
  expected.jsonl one {"text": ..., "ids": [...]} per held-out text, encoded by OpenAI's encoder.py algorithm

The learner is plain BPE on pre-tokenised words (GPT-2's regex, no lower-casing, no end-of-word marker): each step
merges the adjacent pair with the highest total count (overlapping occurrences counted, as in the word's pair
list), ties to the pair whose left, then right, symbol is smallest; merges are applied left to right; it stops
after the asked number of merges or when no pair occurs twice. The encoder below is OpenAI's gpt-2
`src/encoder.py` (MIT licence, Copyright (c) 2019 OpenAI), kept as written there apart from reading files.
"""

import json
import os
import random
import sys
from functools import lru_cache

import regex as re

N_MERGES = 255
N_TRAIN = 1500
N_TEST = 2500
SEED = 15


# ---- from openai/gpt-2 src/encoder.py (MIT) ----

@lru_cache()
def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(2 ** 8):
        if b not in bs:
            bs.append(b)
            cs.append(2 ** 8 + n)
            n += 1
    cs = [chr(n) for n in cs]
    return dict(zip(bs, cs))


def get_pairs(word):
    pairs = set()
    prev_char = word[0]
    for char in word[1:]:
        pairs.add((prev_char, char))
        prev_char = char
    return pairs


class Encoder:
    def __init__(self, encoder, bpe_merges, errors='replace'):
        self.encoder = encoder
        self.decoder = {v: k for k, v in self.encoder.items()}
        self.errors = errors
        self.byte_encoder = bytes_to_unicode()
        self.byte_decoder = {v: k for k, v in self.byte_encoder.items()}
        self.bpe_ranks = dict(zip(bpe_merges, range(len(bpe_merges))))
        self.cache = {}
        self.pat = re.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")

    def bpe(self, token):
        if token in self.cache:
            return self.cache[token]
        word = tuple(token)
        pairs = get_pairs(word)
        if not pairs:
            return token
        while True:
            bigram = min(pairs, key=lambda pair: self.bpe_ranks.get(pair, float('inf')))
            if bigram not in self.bpe_ranks:
                break
            first, second = bigram
            new_word = []
            i = 0
            while i < len(word):
                try:
                    j = word.index(first, i)
                    new_word.extend(word[i:j])
                    i = j
                except ValueError:
                    new_word.extend(word[i:])
                    break
                if word[i] == first and i < len(word) - 1 and word[i + 1] == second:
                    new_word.append(first + second)
                    i += 2
                else:
                    new_word.append(word[i])
                    i += 1
            new_word = tuple(new_word)
            word = new_word
            if len(word) == 1:
                break
            else:
                pairs = get_pairs(word)
        word = ' '.join(word)
        self.cache[token] = word
        return word

    def encode(self, text):
        bpe_tokens = []
        for token in re.findall(self.pat, text):
            token = ''.join(self.byte_encoder[b] for b in token.encode('utf-8'))
            bpe_tokens.extend(self.encoder[bpe_token] for bpe_token in self.bpe(token).split(' '))
        return bpe_tokens

    def decode(self, tokens):
        text = ''.join([self.decoder[token] for token in tokens])
        text = bytearray([self.byte_decoder[c] for c in text]).decode('utf-8', errors=self.errors)
        return text

# ---- end of encoder.py ----


PATTERN = re.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")

COLOURS = ["red", "green", "blue", "yellow", "purple", "orange", "black", "white", "Grey", "Cyan"]
SHAPES = ["circle", "square", "triangle", "star", "hexagon", "cross", "Ellipse", "diamond"]
WORDS = ["a", "the", "on", "in", "of", "with", "and", "small", "large", "photo", "picture", "drawing", "Paris",
         "NEW YORK", "McDonald", "iPhone", "don't", "it's", "we're", "they've", "I'm", "you'll", "she'd", "ISN'T",
         "café", "naïve", "Straße", "Ærøskøbing", "São Paulo", "Zürich", "Ελλάδα", "Москва", "東京", "北京市",
         "서울", "مرحبا", "שלום", "हिन्दी", "ไทย", "😀", "🐈‍⬛", "👍🏽", "e-mail", "x86_64", "3.14", "1,000", "2023",
         "½", "٣", "①", "$5", "100%", "#tag", "@user", "C++", "(note)", "[1]", "{x}", "\"quoted\"", "...", "--",
         "'single'", "l'été", "rock'n'roll", "O'Neil"]
SPACES = [" ", " ", " ", " ", "  ", "   ", "\t", "\n", " \n", "\n\n", "\u00a0", "\u3000", "\u2003", " \t "]


def make_text(rnd):
    kind = rnd.random()
    if kind < 0.5:
        parts = ["A" if rnd.random() < 0.3 else "a", rnd.choice(["", "small ", "large ", "bright "]),
                 rnd.choice(COLOURS), " ", rnd.choice(SHAPES), rnd.choice(["", " on a ", " next to a "])]
        if parts[-1]:
            parts += [rnd.choice(COLOURS).lower(), " background"]
        text = "".join(parts) + rnd.choice(["", ".", "!", " .", "?"])
    else:
        n = rnd.randint(1, 12)
        text = ""
        for i in range(n):
            if i:
                text += rnd.choice(SPACES)
            text += rnd.choice(WORDS)
            if rnd.random() < 0.15:
                text += rnd.choice([",", ".", "!", "?", ":", ";", "'s", "'"])
    if rnd.random() < 0.1:
        text = rnd.choice(SPACES) + text
    if rnd.random() < 0.1:
        text += rnd.choice(SPACES)
    return text


def learn(texts, n_merges):
    byte_encoder = bytes_to_unicode()
    counts = {}
    for text in texts:
        for piece in re.findall(PATTERN, text):
            word = tuple(byte_encoder[b] for b in piece.encode("utf-8"))
            counts[word] = counts.get(word, 0) + 1
    words = dict(counts)
    merges = []
    while len(merges) < n_merges:
        pair_counts = {}
        for word, c in words.items():
            for i in range(len(word) - 1):
                p = (word[i], word[i + 1])
                pair_counts[p] = pair_counts.get(p, 0) + c
        if not pair_counts:
            break
        best = min(pair_counts.items(), key=lambda e: (-e[1], e[0][0], e[0][1]))
        if best[1] < 2:
            break
        (left, right) = best[0]
        merges.append((left, right))
        merged = {}
        for word, c in words.items():
            out = []
            i = 0
            while i < len(word):
                if i + 1 < len(word) and word[i] == left and word[i + 1] == right:
                    out.append(left + right)
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            key = tuple(out)
            merged[key] = merged.get(key, 0) + c
        words = merged
    return merges


def main(out_dir):
    rnd = random.Random(SEED)
    texts = [make_text(rnd) for _ in range(N_TRAIN + N_TEST)]
    train, test = texts[:N_TRAIN], texts[N_TRAIN:]
    merges = learn(train, N_MERGES)
    order = list(bytes_to_unicode().values())
    vocab = {c: i for i, c in enumerate(order)}
    for left, right in merges:
        vocab[left + right] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "train.txt"), "w", encoding="utf-8") as f:
        for t in train:
            f.write(json.dumps(t, ensure_ascii=False) + "\n")
    with open(os.path.join(out_dir, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(os.path.join(out_dir, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n")
        for left, right in merges:
            f.write(left + " " + right + "\n")
    enc = Encoder(vocab, merges)
    with open(os.path.join(out_dir, "expected.jsonl"), "w", encoding="utf-8") as f:
        for t in test:
            ids = enc.encode(t)
            assert enc.decode(ids) == t, t
            f.write(json.dumps({"text": t, "ids": ids}, ensure_ascii=False) + "\n")
    print("%d merges, %d tokens, %d training texts, %d encoded texts -> %s"
          % (len(merges), len(vocab), len(train), len(test), out_dir))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: gpt2_bpe_reference.py OUT_DIR")
    main(sys.argv[1])
