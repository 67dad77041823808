#!/usr/bin/env python3
"""Writes test/fuzz/corpus/tokenizer/: the tokenizer.json fixtures of
test/Inputs/tokenizers shrunk to their first KEEP ids (merges whose tokens
all survive), one per pipeline shape, plus a truncated one.

    python3 make_fuzz_seeds.py test/Inputs/tokenizers test/fuzz/corpus/tokenizer
"""

import json
import os
import sys

KEEP = 300


def shrink(doc):
    model = doc["model"]
    vocab = {t: i for t, i in model["vocab"].items() if i < KEEP}
    merges = []
    for m in model["merges"]:
        a, b = m.split(" ", 1) if isinstance(m, str) else m
        if a in vocab and b in vocab and a + b in vocab:
            merges.append(m)
    model["vocab"] = vocab
    model["merges"] = merges
    # Added tokens and the template take ids right after the vocabulary.
    shift = {t["id"]: KEEP + k for k, t in enumerate(doc["added_tokens"])
             if t["id"] >= KEEP}
    for t in doc["added_tokens"]:
        t["id"] = shift.get(t["id"], t["id"])

    def fix(p):
        if isinstance(p, dict):
            if p.get("type") == "TemplateProcessing":
                for entry in p["special_tokens"].values():
                    entry["ids"] = [shift.get(i, i) for i in entry["ids"]]
            for v in p.values():
                fix(v)
        elif isinstance(p, list):
            for v in p:
                fix(v)
    fix(doc.get("post_processor"))
    return doc


def main():
    src, dst = sys.argv[1], sys.argv[2]
    os.makedirs(dst, exist_ok=True)
    for name in sorted(os.listdir(src)):
        path = os.path.join(src, name, "tokenizer.json")
        if not os.path.exists(path) or name == "gpt2-prefix":
            continue
        with open(path, encoding="utf-8") as f:
            doc = shrink(json.load(f))
        text = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
        with open(os.path.join(dst, name + ".json"), "w",
                  encoding="utf-8") as f:
            f.write(text)
        if name == "qwen2":
            with open(os.path.join(dst, "truncated.json"), "w",
                      encoding="utf-8") as f:
                f.write(text[:len(text) // 2])


if __name__ == "__main__":
    main()
