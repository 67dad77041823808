#!/usr/bin/python3
"""Writes the sentencepiece fixtures of test/Inputs/tokenizers.

Needs Debian's `sentencepiece` (spm_train) and `python3-sentencepiece`, only
to regenerate; CI uses the committed files. Run with Debian's python3:

    /usr/bin/python3 make_spm_fixtures.py OUT_DIR STRINGS_JSON

writes
  llama2-spm/tokenizer.model   BPE as Llama 2 trains it: identity
                               normalization, dummy prefix, digits split,
                               byte fallback (rare characters are left out
                               of the vocabulary so that it is used)
  unigram-spm/tokenizer.model  Unigram, extra whitespace removed (no NFKC:
                               its rule table alone is 240 KB)
  llama2-json/tokenizer.json   llama2-spm converted to the tokenizers
                               library's format as transformers'
                               LlamaConverter does (Prepend + Replace
                               normalizer, BPE with byte_fallback and
                               fuse_unk, merges from the pieces' scores, a
                               <s> template)
  mistral-json/tokenizer.json  the same in transformers' newer form: no
                               normalizer, Metaspace prepending to the first
                               section
  expected-spm.json            ids of each string by python3-sentencepiece
                               (the same C++ library our code links: a
                               weaker check than tokenizers.js, said so in
                               docs/tokenizers.md), without BOS

Then, after encode_with_tokenizers_js.mjs has written expected-js.json,

    /usr/bin/python3 make_spm_fixtures.py --check OUT_DIR

checks that tokenizers.js's ids for llama2-json and mistral-json equal
sentencepiece's for llama2-spm (plus BOS), string by string.
"""

import json
import os
import subprocess
import sys
import tempfile

import sentencepiece as spm

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_bpe_fixtures import CORPUS  # noqa: E402

COMMON = ["--num_threads=1", "--input_sentence_size=0",
          "--unk_id=0", "--bos_id=1", "--eos_id=2", "--pad_id=-1"]


def train(tmp, out_dir, args):
    """Trains on tmp/corpus.txt. Runs in tmp with relative paths: the model
    records its input and prefix, and the bytes should not depend on where
    it was made."""
    subprocess.run(["spm_train", "--input=corpus.txt", "--model_prefix=m"] +
                   COMMON + args, check=True, capture_output=True, cwd=tmp)
    os.makedirs(out_dir, exist_ok=True)
    os.replace(os.path.join(tmp, "m.model"),
               os.path.join(out_dir, "tokenizer.model"))


def convert_llama(model_path):
    """The tokenizer.json transformers' LlamaConverter writes for a BPE
    sentencepiece model (legacy form)."""
    sp = spm.SentencePieceProcessor(model_file=model_path)
    n = sp.get_piece_size()
    vocab = {sp.id_to_piece(i): i for i in range(n)}
    normal = {sp.id_to_piece(i): sp.get_score(i) for i in range(n)
              if not (sp.is_control(i) or sp.is_unknown(i) or sp.is_byte(i))}
    # Merges: every split of a piece into two pieces, ordered by the merged
    # piece's score (higher first), then by the parts' ids.
    merges = []
    for piece, score in normal.items():
        local = [(piece[:k], piece[k:], score) for k in range(1, len(piece))
                 if piece[:k] in vocab and piece[k:] in vocab]
        local.sort(key=lambda m: (vocab[m[0]], vocab[m[1]]))
        merges.extend(local)
    merges.sort(key=lambda m: -m[2])  # stable: keeps the order above
    special = [sp.id_to_piece(i) for i in (0, 1, 2)]
    return {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [
            {"id": i, "content": special[i], "single_word": False,
             "lstrip": False, "rstrip": False, "normalized": False,
             "special": True} for i in range(3)],
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": "\u2581"},
            {"type": "Replace", "pattern": {"String": " "},
             "content": "\u2581"}]},
        "pre_tokenizer": None,
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                     {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "<s>", "type_id": 1}},
                     {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {"<s>": {"id": "<s>", "ids": [1],
                                       "tokens": ["<s>"]}}},
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "\u2581"},
             "content": " "},
            {"type": "ByteFallback"}, {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
        "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>",
                  "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": True,
                  "byte_fallback": True, "ignore_merges": False,
                  "vocab": vocab,
                  "merges": [[a, b] for a, b, _ in merges]},
    }


def check(out_dir):
    with open(os.path.join(out_dir, "expected-js.json"), encoding="utf-8") as f:
        all_js = json.load(f)
    with open(os.path.join(out_dir, "expected-spm.json"), encoding="utf-8") as f:
        sp = json.load(f)["llama2-spm"]
    failed = False
    for name in ("llama2-json", "mistral-json"):
        js = all_js[name]
        # Known: Metaspace prepends nothing to text that already starts
        # with a space (the tokenizers library's rule, which tokenizers.js
        # follows); sentencepiece's dummy prefix always adds one. And
        # sentencepiece reads "<s>" in text as characters, while the
        # tokenizer.json files split it out as an added token.
        bad = [a["text"] for a, b in zip(js, sp)
               if a["text"] != b["text"] or a["ids_no_special"] != b["ids"]
               or a["ids"] != [1] + b["ids"]]
        known = [t for t in bad if "<s>" in t or "</s>" in t or
                 (name == "mistral-json" and t.startswith(" "))]
        bad = [t for t in bad if t not in known]
        print("%s: %d of %d strings agree; %d with <s> or a leading space "
              "differ as expected" % (name, len(js) - len(bad) - len(known),
                               len(js), len(known)))
        for text in bad:
            print("differs: %r" % text)
        failed = failed or bool(bad) or len(js) != len(sp)
    sys.exit(1 if failed else 0)


def write_json(out_dir, name, doc):
    os.makedirs(os.path.join(out_dir, name), exist_ok=True)
    with open(os.path.join(out_dir, name, "tokenizer.json"), "w",
              encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, indent=1)
        f.write("\n")


def main():
    if sys.argv[1] == "--check":
        check(sys.argv[2])
        return
    out_dir, strings_path = sys.argv[1], sys.argv[2]
    with open(strings_path, encoding="utf-8") as f:
        strings = json.load(f)
    with tempfile.TemporaryDirectory() as tmp:
        corpus = os.path.join(tmp, "corpus.txt")
        with open(corpus, "w", encoding="utf-8") as f:
            f.write(CORPUS)
        train(tmp, os.path.join(out_dir, "llama2-spm"),
              ["--model_type=bpe", "--vocab_size=700",
               "--character_coverage=0.98",
               "--normalization_rule_name=identity",
               "--add_dummy_prefix=true", "--remove_extra_whitespaces=false",
               "--split_digits=true", "--byte_fallback=true"])
        train(tmp, os.path.join(out_dir, "unigram-spm"),
              ["--model_type=unigram", "--vocab_size=300",
               "--character_coverage=1.0",
               "--normalization_rule_name=identity"])
    doc = convert_llama(os.path.join(out_dir, "llama2-spm", "tokenizer.model"))
    write_json(out_dir, "llama2-json", doc)
    # transformers' non-legacy form (Mistral, newer Llama 2 uploads): no
    # normalizer, a Metaspace pre-tokenizer that prepends to the first
    # section only.
    doc["normalizer"] = None
    doc["pre_tokenizer"] = {"type": "Metaspace", "replacement": "\u2581",
                            "prepend_scheme": "first", "split": False}
    doc["decoder"] = {"type": "Metaspace", "replacement": "\u2581",
                      "prepend_scheme": "first", "split": False}
    write_json(out_dir, "mistral-json", doc)
    expected = {}
    for name in ("llama2-spm", "unigram-spm"):
        sp = spm.SentencePieceProcessor(
            model_file=os.path.join(out_dir, name, "tokenizer.model"))
        expected[name] = [{"text": s, "ids": sp.encode(s)} for s in strings]
    with open(os.path.join(out_dir, "expected-spm.json"), "w",
              encoding="utf-8") as f:
        f.write(json.dumps(expected, ensure_ascii=False)
                .replace("}, {", "},\n{") + "\n")


if __name__ == "__main__":
    main()
