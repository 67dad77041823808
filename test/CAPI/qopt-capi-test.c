/*===- qopt-capi-test.c - quant-opt's C API from C -----------------*- C -*-===*\
|*                                                                            *|
|* qopt-capi-test dialect           weights dialect handle, parse and print   *|
|* qopt-capi-test pipeline CONFIG   qopt-import-checkpoint via mlir-c's Pass  *|
|*                                  API after qoptRegisterAllPasses()         *|
|* qopt-capi-test convert CONFIG MODE OUT [THREADS [GRAPH]]                   *|
|*                                  qoptConvert; prints the statistics as     *|
|*                                  `quant-opt convert` does and every        *|
|*                                  diagnostic as "SEVERITY|LOCATION|MESSAGE" *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#include "qopt-c/Convert.h"
#include "qopt-c/Dialects.h"
#include "qopt-c/Passes.h"

#include "mlir-c/IR.h"
#include "mlir-c/Pass.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void printToStdout(MlirStringRef s, void *userData) {
  (void)userData;
  fwrite(s.data, 1, s.length, stdout);
}

static const char *severityName(MlirDiagnosticSeverity s) {
  switch (s) {
  case MlirDiagnosticError:
    return "error";
  case MlirDiagnosticWarning:
    return "warning";
  case MlirDiagnosticNote:
    return "note";
  case MlirDiagnosticRemark:
    return "remark";
  }
  return "?";
}

static void printDiagnostic(MlirDiagnosticSeverity severity,
                            MlirStringRef location, MlirStringRef message,
                            void *userData) {
  int *count = (int *)userData;
  ++*count;
  printf("%s|%.*s|%.*s\n", severityName(severity), (int)location.length,
         location.data, (int)message.length, message.data);
}

/* 3342592 -> "3,342,592" (Python's "{:,}"). */
static void printGrouped(unsigned long long v) {
  char digits[32];
  int n = snprintf(digits, sizeof(digits), "%llu", v);
  for (int i = 0; i < n; ++i) {
    if (i > 0 && (n - i) % 3 == 0)
      putchar(',');
    putchar(digits[i]);
  }
}

static int testDialect(void) {
  MlirContext ctx = mlirContextCreate();
  MlirDialectHandle handle = mlirGetDialectHandle__weights__();
  MlirStringRef ns = mlirDialectHandleGetNamespace(handle);
  printf("namespace: %.*s\n", (int)ns.length, ns.data);
  mlirDialectHandleRegisterDialect(handle, ctx);
  MlirDialect dialect = mlirDialectHandleLoadDialect(handle, ctx);
  printf("loaded: %d\n", !mlirDialectIsNull(dialect));
  const char *ir =
      "module {\n  weights.model @m attributes {arch = \"llama\", config = {}} {\n  }\n}\n";
  MlirModule module = mlirModuleCreateParse(ctx, mlirStringRefCreateFromCString(ir));
  if (mlirModuleIsNull(module)) {
    mlirContextDestroy(ctx);
    return 1;
  }
  mlirOperationPrint(mlirModuleGetOperation(module), printToStdout, NULL);
  putchar('\n');
  mlirModuleDestroy(module);
  mlirContextDestroy(ctx);
  return 0;
}

static int testPipeline(const char *config) {
  qoptRegisterAllPasses();
  qoptRegisterAllPasses(); /* idempotent */
  MlirDialectRegistry registry = mlirDialectRegistryCreate();
  qoptRegisterAllDialects(registry);
  MlirContext ctx = mlirContextCreateWithRegistry(registry, false);
  mlirDialectRegistryDestroy(registry);
  MlirModule module = mlirModuleCreateEmpty(mlirLocationUnknownGet(ctx));
  char pipeline[4096];
  snprintf(pipeline, sizeof(pipeline),
           "builtin.module(qopt-import-checkpoint{config=%s})", config);
  MlirPassManager pm = mlirPassManagerCreate(ctx);
  MlirLogicalResult parsed = mlirParsePassPipeline(
      mlirPassManagerGetAsOpPassManager(pm),
      mlirStringRefCreateFromCString(pipeline), printToStdout, NULL);
  int rc = 1;
  if (mlirLogicalResultIsSuccess(parsed) &&
      mlirLogicalResultIsSuccess(
          mlirPassManagerRunOnOp(pm, mlirModuleGetOperation(module)))) {
    mlirOperationPrint(mlirModuleGetOperation(module), printToStdout, NULL);
    putchar('\n');
    rc = 0;
  }
  mlirPassManagerDestroy(pm);
  mlirModuleDestroy(module);
  mlirContextDestroy(ctx);
  return rc;
}

static int testConvert(const char *config, const char *mode, const char *out,
                       unsigned threads, const char *graph) {
  int diagnostics = 0;
  QoptConvertOptions options = qoptConvertOptionsGetDefault();
  options.config = config;
  options.quantization = mode;
  options.output = out;
  options.threads = threads;
  options.graph = graph;
  options.diagnosticCallback = printDiagnostic;
  options.userData = &diagnostics;
  QoptConvertStatistics stats;
  memset(&stats, 0xFF, sizeof(stats));
  if (mlirLogicalResultIsFailure(qoptConvert(&options, &stats))) {
    printf("failed with %d diagnostic(s)\n", diagnostics);
    return 1;
  }
  printf("Parameter size after quantization: %.3f GB\n", stats.paramSizeGB);
  printf("Total parameters: ");
  printGrouped(stats.totalParams);
  printf("\nBits per parameter: %.3f\n", stats.bitsPerParam);
  printf("records: %lld, bytes: %llu\n", (long long)stats.paramSize,
         (unsigned long long)stats.paramBytes);
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "dialect") == 0)
    return testDialect();
  if (argc == 3 && strcmp(argv[1], "pipeline") == 0)
    return testPipeline(argv[2]);
  if (argc >= 5 && argc <= 7 && strcmp(argv[1], "convert") == 0)
    return testConvert(argv[2], argv[3], argv[4],
                       argc >= 6 ? (unsigned)atoi(argv[5]) : 0,
                       argc == 7 ? argv[6] : NULL);
  fprintf(stderr, "usage: qopt-capi-test dialect | pipeline CONFIG | "
                  "convert CONFIG MODE OUT [THREADS [GRAPH]]\n");
  return 2;
}
