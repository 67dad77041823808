"""quant-opt from Python: convert checkpoints, run quant-opt's passes.

    import quant_opt
    stats = quant_opt.convert("model/", "q4f16_1", "out/", threads=2)
    ir = quant_opt.run_pipeline(ir_text, "qopt-import-checkpoint{config=...}")

Both run in-process through quant-opt's C API (libQuantOptCAPI.so) and
write exactly what `quant-opt convert` writes. See docs/embedding.md.
"""

import os as _os
import sys as _sys

# _core's libraries (libQuantOptCAPI.so, libMLIR.so) must share their
# symbols process-wide: MLIR identifies traits and interfaces by template
# statics that are unified only in the global symbol scope. Python loads
# extensions RTLD_LOCAL by default.
_flags = _sys.getdlopenflags()
_sys.setdlopenflags(_flags | _os.RTLD_GLOBAL)
try:
    from . import _core
finally:
    _sys.setdlopenflags(_flags)

__all__ = ["Error", "ConversionError", "PipelineError", "convert",
           "run_pipeline"]


class Error(Exception):
    """A failed conversion or pipeline.

    ``diagnostics`` lists every diagnostic as (severity, location, message)
    tuples, in the order they were emitted; severity is "error", "warning",
    "note" or "remark".
    """

    def __init__(self, diagnostics):
        self.diagnostics = list(diagnostics)
        errors = [d for d in self.diagnostics if d[0] == "error"]
        first = errors[0] if errors else (
            self.diagnostics[0] if self.diagnostics else None)
        if first is None:
            text = "failed without a diagnostic"
        elif first[1]:
            text = "%s: %s" % (first[1], first[2])
        else:
            text = first[2]
        super().__init__(text)


class ConversionError(Error):
    """Raised by convert(); locations name the checkpoint file and tensor."""


class PipelineError(Error):
    """Raised by run_pipeline(); locations are MLIR locations."""


def convert(config, quantization, output=None, **options):
    """Converts a checkpoint as `quant-opt convert` does.

    Keyword options (defaults as the command line's): source, source_format,
    model_type, device, graph, stats_json, rounding, tensor_parallel_shards,
    threads, dry_run, accuracy, optimize_scales.

    Returns the statistics as a dict with the keys of --stats-json:
    ParamSize, ParamBytes, TotalParams, BitsPerParam, ParamSizeGB. Raises
    ConversionError with the located diagnostics on failure.
    """
    ok, stats, diagnostics = _core.convert(
        str(config), quantization, None if output is None else str(output),
        **options)
    if not ok:
        raise ConversionError(diagnostics)
    return stats


def run_pipeline(ir_text, pipeline):
    """Parses ``ir_text``, runs the textual pass pipeline on it and returns
    the resulting IR as text (as mlir-opt prints it).

    ``pipeline`` is mlir-opt's --pass-pipeline syntax; without the
    ``builtin.module(...)`` anchor it is wrapped in one. Raises
    PipelineError with the diagnostics when parsing or a pass fails.
    """
    ok, text, diagnostics = _core.run_pipeline(ir_text, pipeline)
    if not ok:
        raise PipelineError(diagnostics)
    return text
