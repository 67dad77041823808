//===- ShardPlan.cpp - tvmjs shard assignment -------------------*- C++ -*-===//
//
// Record sizes and the replay of tvmjs' TensorCacheShardingManager.
//
//===----------------------------------------------------------------------===//

#include "qopt/TensorCache/TensorCache.h"

namespace qopt::tensorcache {

std::optional<uint64_t> RecordSpec::numElements() const {
  uint64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0)
      return std::nullopt;
    if (__builtin_mul_overflow(n, static_cast<uint64_t>(d), &n))
      return std::nullopt;
  }
  return n;
}

/// numel * bytesPerElem, saturated at UINT64_MAX.
static uint64_t saturatedBytes(const RecordSpec &rec, uint64_t bytesPerElem) {
  std::optional<uint64_t> n = rec.numElements();
  if (!n)
    return UINT64_MAX;
  uint64_t bytes;
  if (__builtin_mul_overflow(*n, bytesPerElem, &bytes))
    return UINT64_MAX;
  return bytes;
}

uint64_t RecordSpec::fileBytes() const {
  if (dtype == numerics::DType::F32)
    return saturatedBytes(*this, 2);
  return saturatedBytes(*this, numerics::dtypeSize(dtype));
}

uint64_t RecordSpec::memBytes() const {
  return saturatedBytes(*this, numerics::dtypeSize(dtype));
}

ShardPlan planShards(const std::vector<RecordSpec> &records,
                     uint64_t capBytes) {
  ShardPlan plan;
  plan.placements.resize(records.size());
  // The pending buffer: its byte count and its records. Sums are done in 128
  // bits so that saturated sizes cannot wrap.
  using Wide = unsigned __int128;
  uint64_t pendingBytes = 0;
  std::vector<size_t> pendingRecords;

  auto emitShard = [&](uint64_t bytes, std::vector<size_t> recs) {
    auto shard = static_cast<uint32_t>(plan.shardBytes.size());
    for (size_t r : recs)
      plan.placements[r].shard = shard;
    plan.shardBytes.push_back(bytes);
    plan.shardRecords.push_back(std::move(recs));
  };

  for (size_t i = 0; i < records.size(); ++i) {
    uint64_t size = records[i].fileBytes();
    if (Wide(pendingBytes) + size >= capBytes) {
      if (Wide(size) * 2 >= capBytes) {
        // Out of band: a shard of its own, the pending buffer is kept.
        plan.placements[i].byteOffset = 0;
        emitShard(size, {i});
        continue;
      }
      if (pendingBytes != 0) {
        emitShard(pendingBytes, std::move(pendingRecords));
        pendingRecords.clear();
        pendingBytes = 0;
      }
    }
    plan.placements[i].byteOffset = pendingBytes;
    pendingRecords.push_back(i);
    // pendingBytes + size < capBytes here, so this cannot overflow.
    pendingBytes += size;
  }
  if (pendingBytes != 0) {
    emitShard(pendingBytes, std::move(pendingRecords));
  } else {
    // tvmjs' commit() ignores an empty buffer, and with it any zero-byte
    // records it holds: they never reach the JSON.
    for (size_t r : pendingRecords)
      plan.placements[r] = {ShardPlan::kDropped, 0};
  }
  return plan;
}

} // namespace qopt::tensorcache
