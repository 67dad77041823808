"""Lists the options of each --qopt-* pass/pipeline in `quant-opt --help`
and counts those without a description."""
import re
import sys

lines = open(sys.argv[1]).read().splitlines()
current, options, undescribed = None, {}, 0
for line in lines:
    m = re.match(r"^      --(qopt-[\w-]+)\s", line)
    if m:
        current = m.group(1)
        options[current] = []
        continue
    m = re.match(r"^        --([\w-]+)", line)
    if m and current:
        options[current].append(m.group(1))
        if " - " not in line or not line.split(" - ", 1)[1].strip():
            undescribed += 1
            print("no description:", current, m.group(1))
        continue
    # The values of an enum option ("    =all  -   ..."), under it.
    if re.match(r"^    =", line):
        continue
    if not line.startswith("        "):
        current = None
for name in sorted(options):
    print("%s: %s" % (name, " ".join(options[name])))
print("undescribed:", undescribed)
