"""Runs the container command of docs/examples/k8s-convert-job.yaml as the
Indexed Job's pod with JOB_COMPLETION_INDEX=index would, with the env values
of the manifest replaced by the given ones (no YAML library needed: the
manifest's `args` is one folded scalar).

usage: run-k8s-job.py MANIFEST INDEX KEY=VALUE...
"""
import os
import re
import subprocess
import sys

manifest, index, *overrides = sys.argv[1:]
text = open(manifest).read()
m = re.search(r"\n( +)- >-\n((?:\1  .*\n)+)", text)
if not m:
    sys.exit("no folded args block in " + manifest)
command = " ".join(line.strip() for line in m.group(2).splitlines())
env = dict(os.environ)
for name, value in re.findall(r"- name: (\w+)\n\s+value: \"?([^\"\n]*)\"?", text):
    env[name] = value
for kv in overrides:
    name, value = kv.split("=", 1)
    env[name] = value
env["JOB_COMPLETION_INDEX"] = index
sys.exit(subprocess.run(["/bin/sh", "-c", command], env=env).returncode)
