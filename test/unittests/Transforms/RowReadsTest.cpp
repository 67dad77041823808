//===- RowReadsTest.cpp - What ops report they read, for read-ahead -*- C++
//-*-===//
//
// EvaluableOpInterface::getRowReads on hand-written IR, with the byte
// ranges worked by hand from the offsets and shapes: a source reads
// offset + r0 * rowBytes for (r1 - r0) * rowBytes bytes, a row concat reads
// the rows of the inputs it spans, a column concat the same rows of every
// input, unpermute_heads the stored rows of every head touched, a cast or a
// row-local quantize the same rows of its input, a transpose nothing.
//
//===----------------------------------------------------------------------===//

#include "dialects/Weights/IR/WeightsOps.h"
#include "qopt/InitAll.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"

#include <gtest/gtest.h>

using namespace mlir;
using namespace mlir::qopt::weights;

namespace {

const char *kModule = R"mlir(
weights.model @m attributes {arch = "llama", checkpoint_root = "/ckpt", config = {}} {
  %q = weights.source "a.safetensors"["q"] offset 8 : tensor<64x64xbf16>
  %k = weights.source "b/k.safetensors"["k"] offset 100 : tensor<32x64xbf16>
  %t = weights.source "m.bin"["t"] offset 64 strides [1, 64] : tensor<64x32xf32>
  %qk = weights.concat %q, %k axis 0 : (tensor<64x64xbf16>, tensor<32x64xbf16>) -> tensor<96x64xbf16>
  %qq = weights.concat %q, %q axis 1 : (tensor<64x64xbf16>, tensor<64x64xbf16>) -> tensor<64x128xbf16>
  %c = weights.cast %qk : tensor<96x64xbf16> to tensor<96x64xf16>
  %u = weights.unpermute_heads %q heads 4 : tensor<64x64xbf16>
  %w, %s = weights.quantize %c : tensor<96x64xf16> -> tensor<96x8xui32>, tensor<96x2xf16> with #weights.group<quant_type = !quant.any<u4<0:14>:f16>, group_size = 32, layout = nk, rounding = even>
  %tr = weights.transpose %q : tensor<64x64xbf16> to tensor<64x64xbf16>
}
)mlir";

/// kModule parsed; its evaluable ops in order.
struct RowReadsTest : ::testing::Test {
  void SetUp() override {
    DialectRegistry registry;
    ::qopt::registerAllDialects(registry);
    ctx.appendDialectRegistry(registry);
    module = parseSourceString<ModuleOp>(kModule, &ctx);
    ASSERT_TRUE(module);
    module->walk([&](EvaluableOpInterface op) { ops.push_back(op); });
    ASSERT_EQ(ops.size(), 9u);
  }
  RowReads reads(size_t i, int64_t r0, int64_t r1, StringRef root = {}) {
    RowReads r;
    r.checkpointRoot = root;
    ops[i].getRowReads(r0, r1, r);
    return r;
  }
  Value result(size_t i) { return ops[i]->getResult(0); }

  MLIRContext ctx;
  OwningOpRef<ModuleOp> module;
  std::vector<EvaluableOpInterface> ops;
};

TEST_F(RowReadsTest, SourcesReadTheirRowsBytes) {
  // q: rows of 64 bf16 = 128 bytes, from offset 8.
  RowReads q = reads(0, 2, 5);
  ASSERT_EQ(q.fileBytes.size(), 1u);
  EXPECT_EQ(q.fileBytes[0].path, "/ckpt/a.safetensors");
  EXPECT_EQ(q.fileBytes[0].offset, 8u + 2 * 128);
  EXPECT_EQ(q.fileBytes[0].length, 3u * 128);
  EXPECT_TRUE(q.operandRows.empty());
  // The root an embedder substitutes.
  RowReads k = reads(1, 0, 32, "/moved");
  ASSERT_EQ(k.fileBytes.size(), 1u);
  EXPECT_EQ(k.fileBytes[0].path, "/moved/b/k.safetensors");
  EXPECT_EQ(k.fileBytes[0].offset, 100u);
  EXPECT_EQ(k.fileBytes[0].length, 32u * 128);
  // Strided sources and empty ranges: no hint.
  EXPECT_TRUE(reads(2, 0, 4).fileBytes.empty());
  EXPECT_TRUE(reads(0, 3, 3).fileBytes.empty());
}

TEST_F(RowReadsTest, MappingOpsReadTheirOperandsRows) {
  // Rows 60..70 of q ++ k: q's rows 60..64 and k's rows 0..6.
  RowReads qk = reads(3, 60, 70);
  ASSERT_EQ(qk.operandRows.size(), 2u);
  EXPECT_EQ(qk.operandRows[0].value, result(0));
  EXPECT_EQ(qk.operandRows[0].r0, 60);
  EXPECT_EQ(qk.operandRows[0].r1, 64);
  EXPECT_EQ(qk.operandRows[1].value, result(1));
  EXPECT_EQ(qk.operandRows[1].r0, 0);
  EXPECT_EQ(qk.operandRows[1].r1, 6);
  // Columns side by side: the same rows of both inputs.
  RowReads qq = reads(4, 1, 3);
  ASSERT_EQ(qq.operandRows.size(), 2u);
  EXPECT_EQ(qq.operandRows[1].r0, 1);
  EXPECT_EQ(qq.operandRows[1].r1, 3);
  // A cast: the same rows.
  RowReads c = reads(5, 10, 20);
  ASSERT_EQ(c.operandRows.size(), 1u);
  EXPECT_EQ(c.operandRows[0].value, result(3));
  EXPECT_EQ(c.operandRows[0].r0, 10);
  EXPECT_EQ(c.operandRows[0].r1, 20);
  // 4 heads of 16 rows: rows 20..40 touch heads 1 and 2, rows 16..48.
  RowReads u = reads(6, 20, 40);
  ASSERT_EQ(u.operandRows.size(), 1u);
  EXPECT_EQ(u.operandRows[0].r0, 16);
  EXPECT_EQ(u.operandRows[0].r1, 48);
  // A row-local quantize reads the same rows of its input.
  RowReads w = reads(7, 0, 8);
  ASSERT_EQ(w.operandRows.size(), 1u);
  EXPECT_EQ(w.operandRows[0].value, result(5));
  EXPECT_EQ(w.operandRows[0].r1, 8);
  // A transpose is evaluated whole, not by rows: no hint.
  RowReads tr = reads(8, 0, 64);
  EXPECT_TRUE(tr.operandRows.empty());
  EXPECT_TRUE(tr.fileBytes.empty());
}

} // namespace
