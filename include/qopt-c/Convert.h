/*===- qopt-c/Convert.h - One call: checkpoint -> tensor cache ----*- C -*-===*\
|*                                                                            *|
|* qoptConvert() runs what `quant-opt convert` runs (the qopt-convert         *|
|* pipeline: import, map, quantize, verify, preshard, serialize) and writes   *|
|* the same bytes. Diagnostics go to a callback instead of stderr, and the    *|
|* statistics `quant-opt convert` prints are returned in a struct.            *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#ifndef QOPT_C_CONVERT_H
#define QOPT_C_CONVERT_H

#include "mlir-c/Diagnostics.h"
#include "mlir-c/Support.h"

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One diagnostic of a conversion. `location` names the checkpoint file (and
 * line:column when there is one) and the tensor, as
 * "<file>: tensor '<name>'", "<file>" or "" when unknown; notes attached to
 * a diagnostic follow it with severity MlirDiagnosticNote. The strings are
 * valid only during the call. */
typedef void (*QoptDiagnosticCallback)(MlirDiagnosticSeverity severity,
                                       MlirStringRef location,
                                       MlirStringRef message, void *userData);

/* The options of `quant-opt convert`. Start from qoptConvertOptionsGetDefault()
 * (new fields may be added at the end); NULL strings mean the default. */
typedef struct QoptConvertOptions {
  const char *config;       /* model directory or its config.json (required) */
  const char *quantization; /* e.g. "q4f16_1" (required) */
  const char *output;       /* output directory (required unless dryRun) */
  const char *source;       /* checkpoint; default: config's directory */
  const char *sourceFormat; /* "auto" | "huggingface-safetensor" | ... */
  const char *modelType;    /* "auto" | "llama" | ... */
  const char *device;       /* "cpu" (default) | "cuda" */
  const char *graph;        /* expected parameters (.mlir or .json), or NULL */
  const char *statsJson;    /* also write the statistics as JSON, or NULL */
  const char *rounding;     /* "even" (default) | "away" */
  int64_t tensorParallelShards; /* 1 (default): no presharding */
  unsigned threads;             /* 0 (default): all cores */
  bool dryRun;                  /* plan only: read no weights, write nothing */
  bool accuracy;                /* measure each quantized weight's error */
  bool optimizeScales;          /* group modes: search each group's scale */
  QoptDiagnosticCallback diagnosticCallback; /* NULL: diagnostics dropped */
  void *userData;                            /* passed to the callback */
} QoptConvertOptions;

/* What `quant-opt convert` prints after converting. */
typedef struct QoptConvertStatistics {
  int64_t paramSize;    /* records written */
  uint64_t paramBytes;  /* bytes of all records */
  uint64_t totalParams; /* elements of the source checkpoint's tensors */
  double bitsPerParam;  /* paramBytes * 8 / totalParams */
  double paramSizeGB;   /* paramBytes / 1024^3 */
} QoptConvertStatistics;

/* The defaults: every string NULL, 1 shard, 0 threads, flags false. */
MLIR_CAPI_EXPORTED QoptConvertOptions qoptConvertOptionsGetDefault(void);

/* Converts as `quant-opt convert` does. On success fills *statistics (if not
 * NULL). On failure every reason went to the diagnostic callback and no
 * tensor cache was written (the writer commits only when all succeeded). */
MLIR_CAPI_EXPORTED MlirLogicalResult
qoptConvert(const QoptConvertOptions *options,
            QoptConvertStatistics *statistics);

#ifdef __cplusplus
}
#endif

#endif /* QOPT_C_CONVERT_H */
