//===- SerializeSegmentsTest.cpp - One cache from segments --*- C++ -*-===//
//
// qopt-serialize-tensor-cache with SerializeSegments, as quant-opt convert
// runs a conversion in segments: each segment's IR lives in an MLIR context
// of its own and defines some records (the others are
// weights.external_param); one writer stages them all and commits with the
// last. The checkpoint is a raw file holding record a (2x4 f16, 16 bytes)
// then b (4x4 f16, 32 bytes); with the default shard capacity both are
// shard 0, a then b, so the shard's bytes are the file's.
//
//===----------------------------------------------------------------------===//

#include "dialects/Weights/Transforms/SerializeSegments.h"
#include "qopt/InitAll.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <gtest/gtest.h>

using namespace mlir;
using namespace mlir::qopt::weights;

namespace {

const char *kFirst = R"mlir(
weights.model @m attributes {arch = "llama", config = {}, source_params = 24 : i64} {
  %a = weights.source "w.bin"["a"] offset 0 : tensor<2x4xf16>
  weights.param @a = %a : tensor<2x4xf16>
  weights.external_param @b : tensor<4x4xf16>
}
)mlir";

const char *kSecond = R"mlir(
weights.model @m attributes {arch = "llama", config = {}, source_params = 24 : i64} {
  weights.external_param @a : tensor<2x4xf16>
  %b = weights.source "w.bin"["b"] offset 16 : tensor<4x4xf16>
  weights.param @b = %b : tensor<4x4xf16>
}
)mlir";

// The second segment of another plan: b has another shape.
const char *kOtherPlan = R"mlir(
weights.model @m attributes {arch = "llama", config = {}, source_params = 24 : i64} {
  weights.external_param @a : tensor<2x4xf16>
  %b = weights.source "w.bin"["b"] offset 16 : tensor<4x2xf16>
  weights.param @b = %b : tensor<4x2xf16>
}
)mlir";

struct SerializeSegmentsTest : ::testing::Test {
  void SetUp() override {
    ASSERT_FALSE(llvm::sys::fs::createUniqueDirectory("qopt-segments", dir));
    data.resize(48);
    for (size_t i = 0; i < 24; ++i) {
      // Distinct finite float16 values (1.0 to 2.0), little endian.
      uint16_t h = uint16_t(0x3C00 + 0x100 * (i % 4)) ^ uint16_t(i / 4);
      data[2 * i] = char(h & 0xff);
      data[2 * i + 1] = char(h >> 8);
    }
    std::error_code ec;
    llvm::raw_fd_ostream os(path("w.bin"), ec);
    ASSERT_FALSE(ec);
    os << data;
  }
  void TearDown() override { llvm::sys::fs::remove_directories(dir); }

  std::string path(StringRef name) {
    SmallString<128> p(dir);
    llvm::sys::path::append(p, name);
    return p.str().str();
  }

  /// Serializes `ir` in a context of its own as one segment; the
  /// diagnostics go to `diagnostics`.
  LogicalResult runSegment(const char *ir, SerializeSegments &segments,
                           bool commit) {
    DialectRegistry registry;
    ::qopt::registerAllDialects(registry);
    MLIRContext ctx(registry);
    ctx.loadAllAvailableDialects();
    ScopedDiagnosticHandler handler(&ctx, [&](Diagnostic &d) {
      diagnostics += d.str() + "\n";
    });
    OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(ir, &ctx);
    if (!module)
      return failure();
    SerializeTensorCacheOptions options;
    options.outputDir = path("out");
    options.checkpointRoot = dir.str().str();
    options.threads = 1;
    segments.commit = commit;
    PassManager pm(&ctx);
    pm.addPass(createSerializeTensorCache(options, &segments));
    return pm.run(*module);
  }

  SmallString<128> dir;
  std::string data, diagnostics;
};

TEST_F(SerializeSegmentsTest, TwoSegmentsCommitOnce) {
  SerializeSegments segments;
  ASSERT_TRUE(succeeded(runSegment(kFirst, segments, false))) << diagnostics;
  // Staged, not committed: no index yet.
  EXPECT_FALSE(llvm::sys::fs::exists(path("out/tensor-cache.json")));
  ASSERT_TRUE(segments.writer);
  ASSERT_TRUE(succeeded(runSegment(kSecond, segments, true))) << diagnostics;
  EXPECT_TRUE(llvm::sys::fs::exists(path("out/tensor-cache.json")));
  auto shard = llvm::MemoryBuffer::getFile(path("out/params_shard_0.bin"));
  ASSERT_TRUE(shard);
  EXPECT_EQ((*shard)->getBuffer().str(), data);
}

TEST_F(SerializeSegmentsTest, AnotherPlanIsRefused) {
  {
    SerializeSegments segments;
    ASSERT_TRUE(succeeded(runSegment(kFirst, segments, false))) << diagnostics;
    EXPECT_TRUE(failed(runSegment(kOtherPlan, segments, true)));
    EXPECT_NE(diagnostics.find("the records of this segment differ from "
                               "those the first segment planned (did the "
                               "checkpoint change?)"),
              std::string::npos)
        << diagnostics;
  }
  // The writer is gone without a commit: no cache, no staging directory.
  EXPECT_FALSE(llvm::sys::fs::exists(path("out/tensor-cache.json")));
  std::error_code ec;
  for (llvm::sys::fs::directory_iterator it(path("out"), ec), end;
       !ec && it != end; it.increment(ec))
    ADD_FAILURE() << "left in the output: " << it->path();
}

} // namespace
