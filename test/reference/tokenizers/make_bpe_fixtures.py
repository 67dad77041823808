#!/usr/bin/env python3
"""Writes the byte-level BPE tokenizer.json fixtures of test/Inputs/tokenizers.

Deterministic, standard library only. It trains a tiny byte-level BPE (GPT-2's
byte-to-unicode map, a few hundred merges) on the corpus below and writes it
in the `tokenizers` library's file format, in the shape real models use:

  qwen2/   NFC normalizer, Split with Qwen2's pattern + ByteLevel, merges as
           "a b" strings, <|endoftext|> <|im_start|> <|im_end|>, one
           normalized added token
  llama3/  no normalizer, Split with Llama 3's pattern + ByteLevel,
           ignore_merges, merges as ["a", "b"], a BOS template
           (<|begin_of_text|> $A), added tokens with lstrip / rstrip, and one
           vocabulary entry no merge produces (so ignore_merges changes ids)
  gpt2/    ByteLevel with use_regex (GPT-2's pattern), <|endoftext|>,
           \\u-escaped JSON
  gpt2-prefix/  the same with add_prefix_space
  digits/  Digits (individual_digits) then ByteLevel with GPT-2's pattern
  tiktoken-o200k/  o200k_base's pattern as a Split with behavior Removed
           and invert (how converted tiktoken vocabularies split)

Training splits words with an approximation of those patterns (Python's re
has no \\p{L}); that only shapes which merges exist. The expected ids come
from encode_with_tokenizers_js.mjs, i.e. from @huggingface/tokenizers.

    python3 make_bpe_fixtures.py OUT_DIR      (OUT_DIR = test/Inputs/tokenizers)
"""

import json
import os
import re
import sys

CORPUS = """
The quick brown fox jumps over the lazy dog. It's a classic sentence, and
we've all seen it; they'll keep using it, I'd guess, because it's short.
Quantization maps weights to fewer bits: four bits per weight, grouped in
blocks of thirty-two, with one scale per group. The model's perplexity rises
a little when the weights are rounded, and calibration on real text helps.
Numbers appear everywhere: 1234567, 3.14159, 2026-12-06, 1,000,000 and 42.
In 2024 the team trained 7 models on 15 trillion tokens with 8192 GPUs.
Café, naïve, résumé, façade, déjà vu, crème brûlée, über, Straße, Ærøskøbing.
Le renard brun rapide saute par-dessus le chien paresseux. Ça va très bien.
Der schnelle braune Fuchs springt über den faulen Hund. Grüße aus München.
El rápido zorro marrón salta sobre el perro perezoso. ¿Qué tal? ¡Muy bien!
日本語のテキストと中文文本，还有한국어 텍스트。東京は日本の首都です。
我们在这里测试分词器。北京欢迎你。今日はいい天気ですね。
Привет мир! Γειά σου Κόσμε! مرحبا بالعالم שלום עולם नमस्ते दुनिया
Emoji: 😀🎉👍🏽 and flags 🇫🇷🇯🇵; hearts ❤️💙 and hands 🙌👏.
def quantize(weights, bits=4):
    scale = max(abs(w) for w in weights) / (2 ** (bits - 1) - 1)
    return [round(w / scale) for w in weights], scale
for (int i = 0; i < n; ++i) { sum += x[i] * y[i]; }
    indented    lines   with    runs   of   spaces
tabs\tand\ttabs\nnewlines\n\n\nand\r\nwindows lines
"""

# Training pre-split (approximate: [^\W\d_] stands for \p{L}).
TRAIN_SPLIT = re.compile(
    r"'(?:s|t|re|ve|m|ll|d)| ?[^\W\d_]+| ?\d{1,3}| ?[^\s\w]+[\r\n]*|"
    r"\s*[\r\n]+|\s+(?!\S)|\s+")

QWEN2_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|"
                 r"\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|"
                  r"\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|"
                  r"\s+(?!\S)|\s+")

# o200k_base's pattern (letter case classes, contractions as suffixes).
O200K_PATTERN = (
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*"
    r"[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|"
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+"
    r"[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|"
    r"\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+")


def bytes_to_unicode():
    """GPT-2's map: printable Latin-1 bytes stand for themselves, the other
    68 bytes take code points 256, 257, ... in byte order. Returned in
    GPT-2's vocabulary order (printable bytes first)."""
    bs = (list(range(ord("!"), ord("~") + 1)) +
          list(range(ord("\u00a1"), ord("\u00ac") + 1)) +
          list(range(ord("\u00ae"), ord("\u00ff") + 1)))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [(b, chr(c)) for b, c in zip(bs, cs)]


def train(num_merges):
    byte_map = dict(bytes_to_unicode())
    counts = {}
    for word in TRAIN_SPLIT.findall(CORPUS):
        mapped = tuple(byte_map[b] for b in word.encode("utf-8"))
        counts[mapped] = counts.get(mapped, 0) + 1
    words = [[list(w), c] for w, c in sorted(counts.items())]
    merges = []
    for _ in range(num_merges):
        pairs = {}
        for symbols, c in words:
            for a, b in zip(symbols, symbols[1:]):
                pairs[(a, b)] = pairs.get((a, b), 0) + c
        if not pairs:
            break
        # Most frequent; ties to the smallest pair, for determinism.
        best = min(pairs, key=lambda p: (-pairs[p], p))
        merges.append(best)
        for entry in words:
            s = entry[0]
            out = []
            i = 0
            while i < len(s):
                if i + 1 < len(s) and (s[i], s[i + 1]) == best:
                    out.append(s[i] + s[i + 1])
                    i += 2
                else:
                    out.append(s[i])
                    i += 1
            entry[0] = out
    vocab = {}
    for _, ch in bytes_to_unicode():
        vocab[ch] = len(vocab)
    for a, b in merges:
        if a + b not in vocab:
            vocab[a + b] = len(vocab)
    return vocab, merges


def added(id_, content, special=True, lstrip=False, rstrip=False,
          normalized=False):
    return {"id": id_, "content": content, "single_word": False,
            "lstrip": lstrip, "rstrip": rstrip, "normalized": normalized,
            "special": special}


def byte_level(**kw):
    d = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
         "use_regex": True}
    d.update(kw)
    return d


def model(vocab, merges, array_merges=False, ignore_merges=False):
    m = {"type": "BPE", "dropout": None, "unk_token": None,
         "continuing_subword_prefix": None, "end_of_word_suffix": None,
         "fuse_unk": False, "byte_fallback": False}
    if ignore_merges:
        m["ignore_merges"] = True
    m["vocab"] = vocab
    m["merges"] = ([[a, b] for a, b in merges] if array_merges
                   else [a + " " + b for a, b in merges])
    return m


def write(out_dir, name, doc, ascii_only=False):
    path = os.path.join(out_dir, name)
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "tokenizer.json"), "w",
              encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=ascii_only, indent=1)
        f.write("\n")


def main():
    out_dir = sys.argv[1]
    vocab, merges = train(300)
    n = len(vocab)

    qwen2 = {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [added(n, "<|endoftext|>"), added(n + 1, "<|im_start|>"),
                         added(n + 2, "<|im_end|>"),
                         added(n + 3, "<think>", special=False,
                               normalized=True)],
        "normalizer": {"type": "NFC"},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": QWEN2_PATTERN},
             "behavior": "Isolated", "invert": False},
            byte_level(trim_offsets=False, use_regex=False)]},
        "post_processor": byte_level(trim_offsets=False, use_regex=False),
        "decoder": byte_level(trim_offsets=False, use_regex=False),
        "model": model(vocab, merges),
    }
    write(out_dir, "qwen2", qwen2)

    # A whole word in the vocabulary that no merge sequence yields.
    l3vocab = dict(vocab)
    l3vocab["\u0120quantization"] = len(l3vocab)
    m = len(l3vocab)
    bos = "<|begin_of_text|>"
    llama3 = {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [added(m, bos), added(m + 1, "<|end_of_text|>"),
                         added(m + 2, "<|eot_id|>"),
                         added(m + 3, "<mask>", lstrip=True),
                         added(m + 4, "<pad>", rstrip=True)],
        "normalizer": None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": LLAMA3_PATTERN},
             "behavior": "Isolated", "invert": False},
            byte_level(use_regex=False)]},
        "post_processor": {"type": "Sequence", "processors": [
            byte_level(use_regex=False),
            {"type": "TemplateProcessing",
             "single": [{"SpecialToken": {"id": bos, "type_id": 0}},
                        {"Sequence": {"id": "A", "type_id": 0}}],
             "pair": [{"SpecialToken": {"id": bos, "type_id": 0}},
                      {"Sequence": {"id": "A", "type_id": 0}},
                      {"SpecialToken": {"id": bos, "type_id": 1}},
                      {"Sequence": {"id": "B", "type_id": 1}}],
             "special_tokens": {bos: {"id": bos, "ids": [m],
                                      "tokens": [bos]}}}]},
        "decoder": byte_level(use_regex=False),
        "model": model(l3vocab, merges, array_merges=True, ignore_merges=True),
    }
    write(out_dir, "llama3", llama3)

    gpt2 = {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [added(n, "<|endoftext|>")],
        "normalizer": None,
        "pre_tokenizer": byte_level(),
        "post_processor": byte_level(),
        "decoder": byte_level(),
        "model": model(vocab, merges),
    }
    # A tiktoken vocabulary as converted to tokenizer.json: the pattern's
    # matches are the words (Removed + invert), no added BOS.
    tiktoken = {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [added(n, "<|endoftext|>")],
        "normalizer": None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": O200K_PATTERN},
             "behavior": "Removed", "invert": True},
            byte_level(use_regex=False)]},
        "post_processor": None,
        "decoder": byte_level(),
        "model": model(vocab, merges),
    }
    write(out_dir, "tiktoken-o200k", tiktoken)

    # StarCoder-style: every digit its own word, then GPT-2's ByteLevel.
    digits = dict(gpt2)
    digits["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Digits", "individual_digits": True}, byte_level()]}
    write(out_dir, "digits", digits)

    write(out_dir, "gpt2", gpt2, ascii_only=True)
    gpt2["pre_tokenizer"] = byte_level(add_prefix_space=True)
    write(out_dir, "gpt2-prefix", gpt2, ascii_only=True)


if __name__ == "__main__":
    main()
