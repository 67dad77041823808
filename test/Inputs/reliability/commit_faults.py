#!/usr/bin/env python3
"""Fault injection over every step of a commit (stdlib only).

  commit_faults.py QUANT_OPT MODEL_DIR WORK_DIR

Writes an old cache (q0f16, 2 shards) plus the files mlc_llm gen_config
leaves in an output directory, then converts again (q4f16_1, 1 shard) with
QOPT_FAULT_INJECT failing the n-th write / fsync / rename / mkdir of the
commit, for n = 1, 2, ... until the run succeeds; and with "kill@OP:n"
(SIGKILL at that step, a crash) followed by a run whose commit fails, and
with two failures in a row (the undo fails too) followed by such a run.
After each failure the output directory must hold exactly the old files,
byte for byte, and no staging directory. Prints one line per case
("rename:3 rc=1 intact: <first line of stderr>") and a summary.
"""
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys

QOPT, MODEL, WORK = sys.argv[1:4]
OUT = os.path.join(WORK, "out")
EXTRA = {"mlc-chat-config.json": b'{"model_type": "llama"}\n',
         "tokenizer.json": b'{"version": "1.0"}\n'}


def run(mode, fault=None):
    env = dict(os.environ)
    env.pop("QOPT_FAULT_INJECT", None)
    if fault:
        env["QOPT_FAULT_INJECT"] = fault
    p = subprocess.run([QOPT, "convert", MODEL, "--quiet", "--quantization", mode,
                        "-o", OUT, "--threads", "1"],
                       env=env, capture_output=True, text=True)
    first = p.stderr.strip().splitlines()[0] if p.stderr.strip() else ""
    # Staging names carry the pid: make the lines stable.
    first = re.sub(r"staging-\d+-\d+", "staging-PID-N", first)
    first = first.replace(OUT, "OUT")
    return p.returncode, first, p.stderr


def snapshot():
    files = {}
    for name in sorted(os.listdir(OUT)):
        path = os.path.join(OUT, name)
        files[name] = open(path, "rb").read() if os.path.isfile(path) else None
    return files


def check_cache(files, label):
    """The index names exactly the shards present, with their md5."""
    index = json.loads(files["tensor-cache.json"])
    names = {r["dataPath"] for r in index["records"]}
    shards = {n for n in files if n.startswith("params_shard_")}
    if names != shards:
        sys.exit("%s: index names %s, directory has %s" % (label, names, shards))
    for r in index["records"]:
        if hashlib.md5(files[r["dataPath"]]).hexdigest() != r["md5sum"]:
            sys.exit("%s: md5 of %s differs" % (label, r["dataPath"]))


def main():
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    rc, first, err = run("q0f16")
    if rc:
        sys.exit("old cache: " + err)
    for name, data in EXTRA.items():
        open(os.path.join(OUT, name), "wb").write(data)
    old = snapshot()
    check_cache(old, "old")
    print("old cache: %d shards + %s" % (
        sum(n.startswith("params_shard_") for n in old), ", ".join(EXTRA)))

    def restore():
        shutil.rmtree(OUT)
        os.makedirs(OUT)
        for name, data in old.items():
            open(os.path.join(OUT, name), "wb").write(data)

    def intact(label):
        now = snapshot()
        if now != old:
            sys.exit("%s: OUT changed: %s vs %s" % (label, sorted(now),
                                                    sorted(old)))

    failures = 0
    for op in ("write", "fsync", "rename", "mkdir"):
        n = 1
        while True:
            spec = "%s:%d" % (op, n)
            rc, first, err = run("q4f16_1", spec)
            if rc == 0:
                new = snapshot()
                check_cache(new, spec)
                for name, data in EXTRA.items():
                    if new.get(name) != data:
                        sys.exit(spec + ": " + name + " lost")
                print("%s: commit has %d %s steps; the run succeeded" %
                      (spec, n - 1, op))
                restore()
                break
            if rc != 1:
                sys.exit("%s: exit %d\n%s" % (spec, rc, err))
            intact(spec)
            print("%s rc=1 intact: %s" % (spec, first))
            failures += 1
            n += 1
            if n > 40:
                sys.exit(op + ": no end")

    # Crashes (SIGKILL) at every rename and fsync of the commit: the next
    # run restores the old cache before its own (failing) commit.
    for op, count in (("rename", 5), ("fsync", 7)):
        for n in range(1, count + 1):
            spec = "kill@%s:%d" % (op, n)
            rc, first, err = run("q4f16_1", spec)
            if rc != -9:
                sys.exit("%s: exit %d\n%s" % (spec, rc, err))
            rc, first, err = run("q4f16_1", "write:1")
            if rc != 1:
                sys.exit("%s then write:1: exit %d\n%s" % (spec, rc, err))
            intact(spec)
            failures += 1
        print("kill@%s:1..%d, then a failing run: intact" % (op, count))
    # Killed at the last fsync, after tensor-cache.json moved in: the new
    # cache is complete, and the next run removes what the dead one left.
    rc, first, err = run("q4f16_1", "kill@fsync:8")
    rc2, first2, err2 = run("q4f16_1", "write:1")
    new = snapshot()
    check_cache(new, "kill@fsync:8")
    if rc != -9 or rc2 != 1 or any(new.get(n) != d for n, d in EXTRA.items()) \
            or any(n.startswith(".quant-opt") for n in new):
        sys.exit("kill@fsync:8: %d %d %s" % (rc, rc2, sorted(new)))
    print("kill@fsync:8 (after the commit point): the new cache, %d shard(s)"
          % sum(n.startswith("params_shard_") for n in new))
    restore()

    # The undo fails too: the old cache waits in staging/old, and the next
    # run puts it back.
    rc, first, err = run("q4f16_1", "rename:4,rename:5")
    lines = [re.sub(r"staging-\d+-\d+", "staging-PID-N", l).replace(OUT, "OUT")
             for l in err.strip().splitlines()]
    print("rename:4,rename:5 rc=%d" % rc)
    for l in lines:
        print("  " + l)
    rc, first, err = run("q4f16_1", "write:1")
    intact("after a failed undo")
    print("next run (write:1) rc=%d intact: %s" % (rc, first))
    print("%d injected failures, old cache intact after each" % (failures + 1))


main()
