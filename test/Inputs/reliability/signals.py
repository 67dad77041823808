#!/usr/bin/env python3
"""Interrupting, racing and crashing runs of quant-opt convert (stdlib only).

  signals.py QUANT_OPT MODEL_DIR WORK_DIR [CONVERT_ARG...]

CONVERT_ARG...: more arguments for every run (e.g. --segments 4).

1. SIGINT and SIGTERM while the shards are being written (polls until the
   staging directory exists, then signals): the process dies of the signal,
   no staging directory is left, and an OUT it created is removed; into an
   OUT holding a cache, the old cache is byte-identical afterwards.
2. Two runs on one OUT at once: the second fails at once with the lock
   message, the first completes.
3. A staging directory left by a dead process (a pid that no longer
   exists) is removed by the next run.
Prints one line per check.
"""
import os
import signal
import subprocess
import sys
import time

QOPT, MODEL, WORK = sys.argv[1:4]
EXTRA = sys.argv[4:]


def files(d):
    out = {}
    for root, dirs, names in os.walk(d):
        for n in names:
            p = os.path.join(root, n)
            out[os.path.relpath(p, d)] = open(p, "rb").read()
        for n in dirs:
            out[os.path.relpath(os.path.join(root, n), d) + "/"] = None
    return out


def default_signals():
    # lit (like nohup) may start us with SIGINT ignored, which quant-opt then
    # rightly keeps ignoring: give the child the default dispositions.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)


def convert(out, mode="q4f16_1"):
    return subprocess.Popen([QOPT, "convert", MODEL, "--quiet", "--quantization", mode,
                             "-o", out, "--threads", "1"] + EXTRA,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, preexec_fn=default_signals)


def interrupt(out, sig):
    """Signals a run once its staging directory exists; retries if the run
    finished first. Returns the exit code."""
    for _ in range(5):
        p = convert(out)
        deadline = time.time() + 60
        while p.poll() is None and time.time() < deadline:
            if os.path.isdir(out) and any(n.startswith(".quant-opt-staging-")
                                          for n in os.listdir(out)):
                time.sleep(0.05)  # well inside the conversion
                p.send_signal(sig)
                break
            time.sleep(0.002)
        p.wait()
        if p.returncode == -sig:
            return p.returncode
    return p.returncode


def main():
    os.makedirs(WORK, exist_ok=True)
    for sig in (signal.SIGINT, signal.SIGTERM):
        name = signal.Signals(sig).name
        fresh = os.path.join(WORK, "fresh-" + name)
        rc = interrupt(fresh, sig)
        print("%s, fresh OUT: killed by %s, OUT %s" % (
            name, "the signal" if rc == -sig else "exit %d" % rc,
            "removed" if not os.path.exists(fresh) else
            "left with " + ", ".join(sorted(os.listdir(fresh)))))
        old = os.path.join(WORK, "old-" + name)
        if convert(old, "q0f16").wait() != 0:
            sys.exit("old cache")
        before = files(old)
        rc = interrupt(old, sig)
        print("%s, OUT with a cache: killed by %s, old cache %s" % (
            name, "the signal" if rc == -sig else "exit %d" % rc,
            "intact" if files(old) == before else "CHANGED: %s" %
            sorted(files(old))))

    # Concurrent writers.
    out = os.path.join(WORK, "race")
    first = convert(out)
    while not (os.path.isdir(out) and any(
            n.startswith(".quant-opt-staging-") for n in os.listdir(out))):
        if first.poll() is not None:
            sys.exit("first run ended early")
        time.sleep(0.002)
    second = convert(out)
    err2 = second.communicate()[1].strip()
    rc1 = first.wait()
    print("second writer: exit %d: %s" % (second.returncode,
                                          err2.replace(WORK, "WORK")))
    print("first writer: exit %d, OUT has %s" % (
        rc1, ", ".join(sorted(os.listdir(out)))))

    # A dead process's staging directory: the pid of a finished child.
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = os.path.join(out, ".quant-opt-staging-%d-0" % dead.pid)
    os.makedirs(stale)
    open(os.path.join(stale, "params_shard_0.bin"), "wb").write(b"x" * 4096)
    rc = convert(out).wait()
    print("stale staging of a dead pid: exit %d, OUT has %s" % (
        rc, ", ".join(sorted(os.listdir(out)))))


main()
