/*===- consumer.c - quant-opt's C API from another C program -------------===*\
|*                                                                            *|
|* consumer-c CONFIG MODE OUTPUT: qoptConvert with a diagnostic callback.     *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#include "qopt-c/Convert.h"

#include <stdio.h>

static void onDiagnostic(MlirDiagnosticSeverity severity, MlirStringRef location,
                         MlirStringRef message, void *userData) {
  (void)severity;
  (void)userData;
  fprintf(stderr, "consumer-c: %.*s: %.*s\n", (int)location.length,
          location.data, (int)message.length, message.data);
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: consumer-c CONFIG MODE OUTPUT\n");
    return 2;
  }
  QoptConvertOptions options = qoptConvertOptionsGetDefault();
  options.config = argv[1];
  options.quantization = argv[2];
  options.output = argv[3];
  options.threads = 2;
  options.diagnosticCallback = onDiagnostic;
  QoptConvertStatistics stats;
  if (mlirLogicalResultIsFailure(qoptConvert(&options, &stats)))
    return 1;
  printf("consumer-c: %lld records, %llu bytes, %.3f bits per parameter\n",
         (long long)stats.paramSize, (unsigned long long)stats.paramBytes,
         stats.bitsPerParam);
  return 0;
}
