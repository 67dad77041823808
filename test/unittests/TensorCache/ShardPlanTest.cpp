//===- ShardPlanTest.cpp - tvmjs shard assignment tests ---------*- C++ -*-===//
//
// Every expected plan below was worked by hand from the tvmjs algorithm
// (spec tensor-cache.md section 2): "pending + size >= cap" triggers either an
// out-of-band shard (2*size >= cap) or a flush of the pending buffer.
//
//===----------------------------------------------------------------------===//

#include "qopt/TensorCache/TensorCache.h"

#include <gtest/gtest.h>

using qopt::numerics::DType;
using namespace qopt::tensorcache;

namespace {

/// A uint8 record of `n` bytes.
RecordSpec bytesRecord(const std::string &name, int64_t n) {
  return RecordSpec{name, {n}, DType::U8};
}

/// (shard, byteOffset) pairs of a plan, for compact comparisons.
std::vector<std::pair<uint32_t, uint64_t>> placements(const ShardPlan &plan) {
  std::vector<std::pair<uint32_t, uint64_t>> out;
  for (const ShardPlan::Placement &p : plan.placements)
    out.emplace_back(p.shard, p.byteOffset);
  return out;
}

using Pairs = std::vector<std::pair<uint32_t, uint64_t>>;
using Bytes = std::vector<uint64_t>;
using Groups = std::vector<std::vector<size_t>>;

TEST(RecordSpecTest, Sizes) {
  RecordSpec q{"q", {384, 16}, DType::U32};
  EXPECT_EQ(q.numElements(), 6144u);
  EXPECT_EQ(q.fileBytes(), 24576u);
  EXPECT_EQ(q.memBytes(), 24576u);

  // float32 is stored as bf16: half the bytes in the file.
  RecordSpec f{"f", {3, 5}, DType::F32};
  EXPECT_EQ(f.fileBytes(), 30u);
  EXPECT_EQ(f.memBytes(), 60u);

  RecordSpec b{"b", {3, 5}, DType::BF16};
  EXPECT_EQ(b.fileBytes(), 30u);
  EXPECT_EQ(b.memBytes(), 30u);

  RecordSpec f8{"f8", {7}, DType::F8E4M3FN};
  EXPECT_EQ(f8.fileBytes(), 7u);

  // A scalar has one element.
  RecordSpec s{"s", {}, DType::F16};
  EXPECT_EQ(s.numElements(), 1u);
  EXPECT_EQ(s.fileBytes(), 2u);

  RecordSpec z{"z", {4, 0}, DType::F16};
  EXPECT_EQ(z.fileBytes(), 0u);
}

TEST(RecordSpecTest, InvalidShapesSaturate) {
  RecordSpec neg{"n", {2, -1}, DType::U8};
  EXPECT_EQ(neg.numElements(), std::nullopt);
  EXPECT_EQ(neg.fileBytes(), UINT64_MAX);

  RecordSpec big{"b", {INT64_MAX, 4}, DType::U8};
  EXPECT_EQ(big.numElements(), std::nullopt);
  EXPECT_EQ(big.memBytes(), UINT64_MAX);

  // Fits as elements, overflows as bytes.
  RecordSpec wide{"w", {INT64_MAX, 2}, DType::U32};
  EXPECT_EQ(wide.numElements(), uint64_t(INT64_MAX) * 2);
  EXPECT_EQ(wide.fileBytes(), UINT64_MAX);
}

TEST(ShardPlanTest, Empty) {
  ShardPlan plan = planShards({}, 100);
  EXPECT_TRUE(plan.placements.empty());
  EXPECT_TRUE(plan.shardBytes.empty());
  EXPECT_TRUE(plan.shardRecords.empty());
}

TEST(ShardPlanTest, SeveralSmallOnesShareAShard) {
  // 0+30, 30+30, 60+30 all stay below 100.
  ShardPlan plan = planShards(
      {bytesRecord("a", 30), bytesRecord("b", 30), bytesRecord("c", 30)}, 100);
  EXPECT_EQ(placements(plan), (Pairs{{0, 0}, {0, 30}, {0, 60}}));
  EXPECT_EQ(plan.shardBytes, (Bytes{90}));
  EXPECT_EQ(plan.shardRecords, (Groups{{0, 1, 2}}));
}

TEST(ShardPlanTest, ReachingTheCapExactlyFlushes) {
  // 60 + 40 == 100 >= cap and 2*40 < 100: flush [60], then 40 starts shard 1.
  ShardPlan plan =
      planShards({bytesRecord("a", 60), bytesRecord("b", 40)}, 100);
  EXPECT_EQ(placements(plan), (Pairs{{0, 0}, {1, 0}}));
  EXPECT_EQ(plan.shardBytes, (Bytes{60, 40}));
  EXPECT_EQ(plan.shardRecords, (Groups{{0}, {1}}));

  // One byte less stays in one shard of 99 bytes.
  ShardPlan below =
      planShards({bytesRecord("a", 60), bytesRecord("b", 39)}, 100);
  EXPECT_EQ(placements(below), (Pairs{{0, 0}, {0, 60}}));
  EXPECT_EQ(below.shardBytes, (Bytes{99}));
}

TEST(ShardPlanTest, FlushThenContinue) {
  // 90 pending; +10 reaches 100 -> flush; then 10, 30, 30 accumulate to 70;
  // +45 = 115 >= 100 and 90 < 100 -> flush [10,30,30]; 45 pending at the end.
  ShardPlan plan = planShards({bytesRecord("a", 30), bytesRecord("b", 30),
                               bytesRecord("c", 30), bytesRecord("d", 10),
                               bytesRecord("e", 30), bytesRecord("f", 30),
                               bytesRecord("g", 45)},
                              100);
  EXPECT_EQ(
      placements(plan),
      (Pairs{{0, 0}, {0, 30}, {0, 60}, {1, 0}, {1, 10}, {1, 40}, {2, 0}}));
  EXPECT_EQ(plan.shardBytes, (Bytes{90, 70, 45}));
  EXPECT_EQ(plan.shardRecords, (Groups{{0, 1, 2}, {3, 4, 5}, {6}}));
}

TEST(ShardPlanTest, OutOfBandTensorTakesTheNextNumberFirst) {
  // a: 30 pending. b: 30+80 >= 100 and 160 >= 100 -> out of band, shard 0,
  // pending NOT flushed. c: 30+20 = 50 -> offset 30. End: pending -> shard 1.
  ShardPlan plan = planShards(
      {bytesRecord("a", 30), bytesRecord("b", 80), bytesRecord("c", 20)}, 100);
  EXPECT_EQ(placements(plan), (Pairs{{1, 0}, {0, 0}, {1, 30}}));
  EXPECT_EQ(plan.shardBytes, (Bytes{80, 50}));
  EXPECT_EQ(plan.shardRecords, (Groups{{1}, {0, 2}}));
}

TEST(ShardPlanTest, HalfCapTensorJoinsABufferWhenItFits) {
  // 50 into an empty buffer: 0+50 < 100, so it is buffered (offset 0) even
  // though 2*50 >= cap. A second 50: 50+50 >= 100 and 100 >= 100 -> out of
  // band as shard 0; the first one is flushed at the end as shard 1.
  ShardPlan plan =
      planShards({bytesRecord("a", 50), bytesRecord("b", 50)}, 100);
  EXPECT_EQ(placements(plan), (Pairs{{1, 0}, {0, 0}}));
  EXPECT_EQ(plan.shardBytes, (Bytes{50, 50}));
  EXPECT_EQ(plan.shardRecords, (Groups{{1}, {0}}));
}

TEST(ShardPlanTest, TensorLargerThanCapAndSeveralOutOfBand) {
  // a: 150 >= 100 with an empty buffer -> out of band shard 0.
  // b: 10 pending. c: 10+120 -> out of band shard 1. d: 10+60 = 70 >= 100? no
  // -> offset 10 (70 pending). e: 70+55 >= 100, 110 >= 100 -> shard 2.
  // f: 70+30 = 100 >= 100, 60 < 100 -> flush [b, d] as shard 3; f offset 0.
  // End: [f] -> shard 4.
  ShardPlan plan = planShards({bytesRecord("a", 150), bytesRecord("b", 10),
                               bytesRecord("c", 120), bytesRecord("d", 60),
                               bytesRecord("e", 55), bytesRecord("f", 30)},
                              100);
  EXPECT_EQ(placements(plan),
            (Pairs{{0, 0}, {3, 0}, {1, 0}, {3, 10}, {2, 0}, {4, 0}}));
  EXPECT_EQ(plan.shardBytes, (Bytes{150, 120, 55, 70, 30}));
  EXPECT_EQ(plan.shardRecords, (Groups{{0}, {2}, {4}, {1, 3}, {5}}));
}

TEST(ShardPlanTest, Float32CountsItsBf16Bytes) {
  // F32 [30] is 60 file bytes, U32 [10] is 40: 60 + 40 == 100 -> flush.
  // Were float32 counted at 4 bytes (120) it would go out of band instead.
  ShardPlan plan = planShards(
      {RecordSpec{"f", {30}, DType::F32}, RecordSpec{"u", {10}, DType::U32}},
      100);
  EXPECT_EQ(placements(plan), (Pairs{{0, 0}, {1, 0}}));
  EXPECT_EQ(plan.shardBytes, (Bytes{60, 40}));
}

TEST(ShardPlanTest, ZeroByteRecords) {
  // A zero-byte record followed by data shares the shard at the same offset.
  ShardPlan plan = planShards({bytesRecord("z", 0), bytesRecord("a", 5)}, 100);
  EXPECT_EQ(placements(plan), (Pairs{{0, 0}, {0, 0}}));
  EXPECT_EQ(plan.shardBytes, (Bytes{5}));
  EXPECT_EQ(plan.shardRecords, (Groups{{0, 1}}));

  // Pending zero-byte records at the end are dropped by tvmjs (it only
  // flushes a non-empty buffer).
  ShardPlan dropped = planShards(
      {bytesRecord("a", 80), bytesRecord("b", 90), bytesRecord("z", 0)}, 100);
  // a: buffered (80 < 100). b: 80+90 >= 100, 180 >= 100 -> out of band
  // shard 0. z: 80+0 -> offset 80. End: [a, z] flushed as shard 1 (80 bytes).
  EXPECT_EQ(placements(dropped), (Pairs{{1, 0}, {0, 0}, {1, 80}}));
  ShardPlan lost =
      planShards({bytesRecord("a", 200), bytesRecord("z", 0)}, 100);
  EXPECT_EQ(placements(lost), (Pairs{{0, 0}, {ShardPlan::kDropped, 0}}));
  EXPECT_EQ(lost.shardBytes, (Bytes{200}));
  EXPECT_EQ(lost.shardRecords, (Groups{{0}}));
}

TEST(ShardPlanTest, RealCapFromSizesOnly) {
  constexpr uint64_t MiB = 1 << 20;
  // a: F16 [1024, 4096] = 8 MiB -> pending 8 MiB, offset 0.
  // b: U32 [4096, 512] = 8 MiB -> offset 8 MiB, pending 16 MiB.
  // c: F16 [4096, 2048] = 16 MiB: 16+16 = 32 MiB >= cap and 2*16 >= 32 ->
  //    out of band, shard 0.
  // d: F32 [2048, 2048] = 8 MiB as bf16 -> offset 16 MiB, pending 24 MiB.
  // e: F16 [4096, 1024] = 8 MiB: 24+8 = 32 >= 32, 16 < 32 -> flush [a, b, d]
  //    as shard 1 (24 MiB); e offset 0.
  // f: F16 [4096, 4095] = 33546240 (just under 32 MiB): out of band, shard 2.
  // g: U8 [100] -> offset 8 MiB. End: [e, g] -> shard 3.
  std::vector<RecordSpec> records = {
      {"a", {1024, 4096}, DType::F16}, {"b", {4096, 512}, DType::U32},
      {"c", {4096, 2048}, DType::F16}, {"d", {2048, 2048}, DType::F32},
      {"e", {4096, 1024}, DType::F16}, {"f", {4096, 4095}, DType::F16},
      {"g", {100}, DType::U8}};
  ShardPlan plan = planShards(records);
  EXPECT_EQ(placements(plan), (Pairs{{1, 0},
                                     {1, 8 * MiB},
                                     {0, 0},
                                     {1, 16 * MiB},
                                     {3, 0},
                                     {2, 0},
                                     {3, 8 * MiB}}));
  EXPECT_EQ(plan.shardBytes,
            (Bytes{16 * MiB, 24 * MiB, 33546240, 8 * MiB + 100}));
  EXPECT_EQ(plan.shardRecords, (Groups{{2}, {0, 1, 3}, {5}, {4, 6}}));

  // Two 16 MiB - 1 tensors buffer 32 MiB - 2 bytes; a 2-byte tensor brings
  // the sum to exactly 32 MiB, which flushes (>=).
  std::vector<RecordSpec> edge = {{"x", {16 * MiB - 1}, DType::U8},
                                  {"y", {16 * MiB - 1}, DType::U8},
                                  {"z", {2}, DType::U8}};
  ShardPlan edgePlan = planShards(edge);
  EXPECT_EQ(placements(edgePlan), (Pairs{{0, 0}, {0, 16 * MiB - 1}, {1, 0}}));
  EXPECT_EQ(edgePlan.shardBytes, (Bytes{32 * MiB - 2, 2}));
}

} // namespace
