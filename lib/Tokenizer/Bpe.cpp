//===- Bpe.cpp - Byte-pair encoding of one word ---------------------------===//
//
// The BPE model of the tokenizers library: a word starts as one symbol per
// character (its vocabulary id; byte fallback or the unknown token for
// characters outside the vocabulary), then the adjacent pair with the
// lowest merge rank is merged, leftmost first among equal ranks, until no
// pair has a merge. A heap of candidate pairs over a linked list of symbols
// keeps that O(n log n) in the word's length.
//
//===----------------------------------------------------------------------===//

#include "TokenizerImpl.h"

#include <queue>

namespace qopt::tokenizer::detail {

namespace {
struct Symbol {
  int32_t id;
  int32_t prev;
  int32_t next;
  bool alive;
};

struct Candidate {
  int32_t rank;
  int32_t pos;
  int32_t mergedId;
  /// Lowest rank first, then leftmost.
  bool operator<(const Candidate &o) const {
    return rank != o.rank ? rank > o.rank : pos > o.pos;
  }
};
} // namespace

static uint64_t pairKey(int32_t a, int32_t b) {
  return (uint64_t(uint32_t(a)) << 32) | uint32_t(b);
}

void BpeModel::mergeWord(llvm::StringRef word,
                         std::vector<int32_t> &out) const {
  std::vector<Symbol> symbols;
  bool lastWasUnk = false;
  auto push = [&](int32_t id) {
    int32_t index = int32_t(symbols.size());
    symbols.push_back({id, index - 1, -1, true});
    if (index > 0)
      symbols[index - 1].next = index;
  };
  for (size_t i = 0; i < word.size();) {
    size_t begin = i;
    (void)nextCodePoint(word, i);
    llvm::StringRef ch = word.slice(begin, i);
    auto it = vocab.find(ch);
    if (it != vocab.end()) {
      push(it->second);
      lastWasUnk = false;
      continue;
    }
    if (byteFallback) {
      bool all = true;
      for (char c : ch)
        all = all && byteIds[uint8_t(c)] >= 0;
      if (all) {
        for (char c : ch)
          push(byteIds[uint8_t(c)]);
        lastWasUnk = false;
        continue;
      }
    }
    // Unknown: the unknown token (fused with a preceding one when asked),
    // or nothing when the model has none, as the tokenizers library does.
    if (!unkId)
      continue;
    if (!(fuseUnk && lastWasUnk))
      push(*unkId);
    lastWasUnk = true;
  }

  std::priority_queue<Candidate> heap;
  auto consider = [&](int32_t pos) {
    int32_t next = symbols[pos].next;
    if (next < 0)
      return;
    auto it = merges.find(pairKey(symbols[pos].id, symbols[next].id));
    if (it != merges.end())
      heap.push({it->second.first, pos, it->second.second});
  };
  for (int32_t pos = 0; pos + 1 < int32_t(symbols.size()); ++pos)
    consider(pos);
  while (!heap.empty()) {
    Candidate top = heap.top();
    heap.pop();
    Symbol &left = symbols[top.pos];
    if (!left.alive || left.next < 0)
      continue;
    Symbol &right = symbols[left.next];
    // Stale when either side changed since the candidate was pushed.
    auto it = merges.find(pairKey(left.id, right.id));
    if (it == merges.end() || it->second.second != top.mergedId)
      continue;
    left.id = top.mergedId;
    right.alive = false;
    left.next = right.next;
    if (right.next >= 0)
      symbols[right.next].prev = top.pos;
    if (left.prev >= 0)
      consider(left.prev);
    consider(top.pos);
  }
  for (int32_t pos = symbols.empty() ? -1 : 0; pos >= 0;
       pos = symbols[pos].next)
    out.push_back(symbols[pos].id);
}

void BpeModel::encodeWord(llvm::StringRef word,
                          std::vector<int32_t> &out) const {
  if (word.empty())
    return;
  if (ignoreMerges) {
    auto it = vocab.find(word);
    if (it != vocab.end()) {
      out.push_back(it->second);
      return;
    }
  }
  bool cacheable = word.size() < kCacheWordBytes;
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cacheMutex);
    auto it = cache.find(word.str());
    if (it != cache.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  size_t start = out.size();
  mergeWord(word, out);
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cacheMutex);
    if (cache.size() < kCacheEntries)
      cache.emplace(word.str(),
                    std::vector<int32_t>(out.begin() + start, out.end()));
  }
}

} // namespace qopt::tokenizer::detail
