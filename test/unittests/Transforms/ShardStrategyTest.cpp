//===- ShardStrategyTest.cpp - #weights.shard's block verifier -*- C++ -*-===//
//
// The text form cannot state a `block` without `segments` (the block is
// part of the segments' group), so the verifier's rule is checked through
// the builder, as a pass would reach it.
//
//===----------------------------------------------------------------------===//

#include "dialects/Weights/IR/WeightsDialect.h"
#include "dialects/Weights/IR/WeightsOps.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"

#include <gtest/gtest.h>

using namespace mlir;
using namespace mlir::qopt::weights;

namespace {

/// The message of the one error `getChecked` reports, or "" when it
/// accepts.
static std::string check(MLIRContext &ctx, int64_t dim,
                         ArrayRef<int64_t> segments, int64_t block) {
  std::string message;
  ScopedDiagnosticHandler handler(&ctx, [&](Diagnostic &d) {
    message = d.str();
    return success();
  });
  ShardStrategyAttr attr = ShardStrategyAttr::getChecked(
      [&] { return emitError(UnknownLoc::get(&ctx)); }, &ctx, dim, segments,
      block);
  EXPECT_EQ(bool(attr), message.empty());
  return message;
}

TEST(ShardStrategyTest, BlockNeedsTheWeightsSegments) {
  MLIRContext ctx;
  ctx.loadDialect<WeightsDialect>();
  EXPECT_EQ(check(ctx, 1, {}, 32), "shard block 32 needs the weight's segments");
  EXPECT_EQ(check(ctx, 1, {96}, 0), "shard block must be positive, got 0");
  EXPECT_EQ(check(ctx, 1, {96}, 32), "");
  // The default block (1): a strategy of the weight's own layout.
  EXPECT_EQ(check(ctx, 1, {}, 1), "");
  EXPECT_EQ(ShardStrategyAttr::get(&ctx, 0, {64, 32, 32}).getBlock(), 1);
}

} // namespace
