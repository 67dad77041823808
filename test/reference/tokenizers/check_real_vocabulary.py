#!/usr/bin/env python3
"""Compares `quant-opt tokenize` with tokenizers.js on a real vocabulary.

Not run by CI (it needs node and a tokenizer.json that is not in the repo,
e.g. one an npm package ships). For every directory of FIXTURES_DIR holding
a tokenizer.json, every string of STRINGS_JSON (and, with --text FILE, that
whole file as one more string) is encoded by both, with and without special
tokens, and the ids compared.

    python3 check_real_vocabulary.py QUANT_OPT FIXTURES_DIR STRINGS_JSON \\
        [--text FILE]      (NODE_PATH must reach @huggingface/tokenizers)
"""

import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    quant_opt, fixtures, strings_path = sys.argv[1:4]
    with open(strings_path, encoding="utf-8") as f:
        strings = json.load(f)
    if len(sys.argv) > 5 and sys.argv[4] == "--text":
        with open(sys.argv[5], encoding="utf-8") as f:
            strings.append(f.read())
    with tempfile.TemporaryDirectory() as tmp:
        all_path = os.path.join(tmp, "strings.json")
        with open(all_path, "w", encoding="utf-8") as f:
            json.dump(strings, f, ensure_ascii=False)
        expected = json.loads(subprocess.run(
            ["node", os.path.join(HERE, "encode_with_tokenizers_js.mjs"),
             fixtures, all_path], check=True, capture_output=True).stdout)
        text_path = os.path.join(tmp, "text.txt")
        total = bad = 0
        for name, entries in sorted(expected.items()):
            for entry in entries:
                with open(text_path, "w", encoding="utf-8", newline="") as f:
                    f.write(entry["text"])
                for key, flags in (("ids", []),
                                   ("ids_no_special", ["--no-special-tokens"])):
                    out = subprocess.run(
                        [quant_opt, "tokenize", os.path.join(fixtures, name),
                         "--text", text_path] + flags,
                        capture_output=True, text=True)
                    ids = [int(x) for x in out.stdout.split()]
                    total += 1
                    if out.returncode != 0 or ids != entry[key]:
                        bad += 1
                        print("%s: differs on %r (%s)" % (
                            name, entry["text"][:60], key))
        print("%d of %d encodings agree" % (total - bad, total))
        sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
