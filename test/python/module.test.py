# Driven by module.test: quant_opt.convert / run_pipeline and their errors.
import json
import sys

import quant_opt

inputs, out, cli_mlir = sys.argv[1], sys.argv[2], sys.argv[3]

stats = quant_opt.convert(inputs + "/bytellama-fp16-st", "q4f16_1",
                          out + "/py", threads=2)
print("stats:", json.dumps(stats, sort_keys=True))

try:
    quant_opt.convert(inputs + "/llama-bf16-st", "q4f16_0", out + "/kn",
                      graph=sys.argv[4])
except quant_opt.ConversionError as e:
    print("ConversionError:", e)
    for severity, location, message in e.diagnostics[:2]:
        print("diagnostic:", severity, "|", location, "|", message)

try:
    quant_opt.convert(inputs + "/bytellama-fp16-st", "q4f16_1", out + "/x",
                      no_such_option=1)
except TypeError:
    print("TypeError for an unknown option")

ir = quant_opt.run_pipeline(
    "module {}", "qopt-import-checkpoint{config=%s/bytellama-fp16-st}" % inputs)
print("run_pipeline equals quant-opt:", ir == open(cli_mlir).read())

try:
    quant_opt.run_pipeline("module {}", "builtin.module(qopt-no-such-pass)")
except quant_opt.PipelineError as e:
    print("PipelineError:", e.diagnostics)

try:
    quant_opt.run_pipeline("weights.bogus", "builtin.module()")
except quant_opt.PipelineError as e:
    print("PipelineError:", e)
