#!/usr/bin/env python3
"""Converts one checkpoint with every given mode, by quant-opt and by the
reference, and compares the outputs byte for byte (stdlib only).

  check_modes.py QUANT_OPT MODEL_DIR WORK_DIR MODE [MODE ...] [--rounding R]
      [--tensor-parallel-shards N]
Prints one line per mode ("q4f16_1: identical, 4.517 bits") and exits 1 if
any mode differs or fails.
"""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def run(cmd):
    return subprocess.run(cmd, capture_output=True, text=True)


def main(argv):
    rounding, shards = "even", "1"
    if "--rounding" in argv:
        i = argv.index("--rounding")
        rounding = argv[i + 1]
        del argv[i:i + 2]
    if "--tensor-parallel-shards" in argv:
        i = argv.index("--tensor-parallel-shards")
        shards = argv[i + 1]
        del argv[i:i + 2]
    tool, model, work, modes = argv[0], argv[1], argv[2], argv[3:]
    bad = 0
    for mode in modes:
        ours = os.path.join(work, mode + "-ours")
        ref = os.path.join(work, mode + "-ref")
        a = run([tool, "convert", model, "--quantization", mode, "-o", ours,
                 "--rounding", rounding, "--tensor-parallel-shards", shards])
        b = run([sys.executable, os.path.join(HERE, "mlc_reference.py"), model,
                 "--quantization", mode, "-o", ref, "--rounding", rounding,
                 "--tensor-parallel-shards", shards])
        if a.returncode or b.returncode:
            print("%s: FAILED\n%s%s" % (mode, a.stderr, b.stderr))
            bad += 1
            continue
        c = run([sys.executable, os.path.join(HERE, "compare_cache.py"), ours, ref])
        # quant-opt logs on stderr, as mlc_llm does; the statistics are the
        # three lines from "Parameter size after quantization".
        lines = a.stderr.splitlines()
        first = [i for i, l in enumerate(lines)
                 if l.startswith("Parameter size after quantization")]
        stats_ours = lines[first[0]:first[0] + 3] if first else []
        stats_ref = b.stdout.splitlines()[:3]
        if c.returncode or stats_ours != stats_ref:
            print("%s: DIFFERENT\n%s%s\n%s" % (mode, c.stdout, stats_ours, stats_ref))
            bad += 1
            continue
        print("%s: identical, %s" % (mode, stats_ours[2]))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
