//===- Parts.cpp - Split conversions: part manifests and merge --*- C++ -*-===//
//
// `quant-opt convert --part I/N` writes the shards that assignShardsToParts
// gives part I straight into the shared output directory, plus a manifest
// `.quant-opt-parts/part-I-of-N.json` with the whole plan and the md5 of its
// shards. `quant-opt merge-parts` checks that the N manifests agree and that
// every shard file is the one its part wrote, then writes the index exactly
// as a single run does.
//
//===----------------------------------------------------------------------===//

#include "qopt/TensorCache/Md5.h"
#include "qopt/TensorCache/TensorCache.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include <algorithm>
#include <map>
#include <thread>

namespace qopt::tensorcache {

static constexpr const char *kPartsDir = ".quant-opt-parts";
static constexpr const char *kManifestFormat = "quant-opt-part-manifest/1";

static std::string joinPath(llvm::StringRef dir, llvm::StringRef name) {
  llvm::SmallString<256> p(dir);
  llvm::sys::path::append(p, name);
  return std::string(p);
}

static std::string shardName(size_t shard) {
  return "params_shard_" + std::to_string(shard) + ".bin";
}

static llvm::Error fail(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}

std::vector<uint32_t> assignShardsToParts(const std::vector<uint64_t> &bytes,
                                          uint32_t count) {
  using Wide = unsigned __int128;
  Wide total = 0;
  for (uint64_t b : bytes)
    total += b;
  std::vector<uint32_t> owner(bytes.size(), 0);
  Wide before = 0;
  for (size_t k = 0; k < bytes.size(); ++k) {
    Wide mid = 2 * before + bytes[k]; // twice the shard's middle byte
    Wide p = total ? mid * count / (2 * total) : 0;
    owner[k] = uint32_t(std::min<Wide>(p, count - 1));
    before += bytes[k];
  }
  return owner;
}

std::string partManifestPath(llvm::StringRef outDir, PartSpec part) {
  return joinPath(joinPath(outDir, kPartsDir),
                  "part-" + std::to_string(part.index) + "-of-" +
                      std::to_string(part.count) + ".json");
}

/// Writes `text` to `path` through a temporary file in the same directory.
static llvm::Error writeFileAtomically(const std::string &path,
                                       llvm::StringRef text) {
  std::string tmp = path + ".tmp";
  {
    std::error_code ec;
    llvm::raw_fd_ostream os(tmp, ec);
    if (ec)
      return fail("error writing '" + path + "': " + ec.message());
    os << text;
    os.close();
    if (os.has_error()) {
      std::error_code e = os.error();
      os.clear_error();
      llvm::sys::fs::remove(tmp);
      return fail("error writing '" + path + "': " + e.message());
    }
  }
  if (std::error_code ec = llvm::sys::fs::rename(tmp, path)) {
    llvm::sys::fs::remove(tmp);
    return fail("cannot move '" + tmp + "' to '" + path + "': " +
                ec.message());
  }
  return llvm::Error::success();
}

//===----------------------------------------------------------------------===//
// The part side
//===----------------------------------------------------------------------===//

/// The plan object every part writes alike.
static llvm::json::Object
planJson(const std::vector<RecordSpec> &records, const ShardPlan &plan,
         uint64_t capBytes, PartSpec part, const Metadata &meta,
         uint64_t totalParams,
         const std::vector<std::pair<std::string, std::string>> &identity) {
  llvm::json::Object id;
  for (const auto &[k, v] : identity)
    id[k] = v;
  llvm::json::Array recs;
  for (const RecordSpec &r : records) {
    llvm::json::Array shape;
    for (int64_t d : r.shape)
      shape.push_back(d);
    recs.push_back(llvm::json::Array{
        r.name, std::move(shape), std::string(numerics::tvmName(r.dtype))});
  }
  llvm::json::Array shards, owners;
  std::vector<uint32_t> owner = assignShardsToParts(plan.shardBytes, part.count);
  for (size_t k = 0; k < plan.shardBytes.size(); ++k) {
    shards.push_back(int64_t(plan.shardBytes[k]));
    owners.push_back(int64_t(owner[k] + 1));
  }
  return llvm::json::Object{
      {"identity", std::move(id)},
      {"parts", int64_t(part.count)},
      {"shard_cap_bytes", int64_t(capBytes)},
      {"metadata", llvm::json::Object{{"ParamSize", meta.paramSize},
                                      {"ParamBytes", int64_t(meta.paramBytes)},
                                      {"TotalParams", int64_t(totalParams)}}},
      {"records", std::move(recs)},
      {"shard_bytes", std::move(shards)},
      {"shard_parts", std::move(owners)}};
}

llvm::Error TensorCacheWriter::commitPart(
    const Metadata &meta, uint64_t totalParams,
    const std::vector<std::pair<std::string, std::string>> &identity) {
  if (!part)
    return fail("tensor cache '" + outDir +
                "' is not written in parts: use commit()");
  if (commitAttempted)
    return fail("part of tensor cache '" + outDir + "' was already committed");
  commitAttempted = true;
  if (llvm::Error err = commitPartImpl(meta, totalParams, identity)) {
    cleanup();
    return err;
  }
  committed = true;
  return llvm::Error::success();
}

llvm::Error TensorCacheWriter::commitPartImpl(
    const Metadata &meta, uint64_t totalParams,
    const std::vector<std::pair<std::string, std::string>> &identity) {
  for (size_t i = 0; i < recordSpecs.size(); ++i)
    if (wantsRecord(i) && recordStates[i].load() != Written)
      return fail("cannot commit part " + llvm::Twine(part->index) + "/" +
                  llvm::Twine(part->count) + " of tensor cache '" + outDir +
                  "': tensor '" + recordSpecs[i].name + "' was never written");
  llvm::Expected<std::vector<std::string>> md5 = hasher->finish(inPart);
  if (!md5)
    return md5.takeError();

  llvm::json::Array shards;
  for (size_t k = 0; k < inPart.size(); ++k)
    if (inPart[k])
      shards.push_back(
          llvm::json::Object{{"name", shardName(k)},
                             {"nbytes", int64_t(shardPlan.shardBytes[k])},
                             {"md5", (*md5)[k]}});
  llvm::json::Value manifest = llvm::json::Object{
      {"format", kManifestFormat},
      {"part", int64_t(part->index)},
      {"parts", int64_t(part->count)},
      {"plan", planJson(recordSpecs, shardPlan, capBytes, *part, meta,
                        totalParams, identity)},
      {"shards", std::move(shards)}};
  std::string text = llvm::formatv("{0:2}", manifest).str() + "\n";
  std::string stagedManifest = joinPath(stagingDir, "manifest.json");
  if (llvm::Error err = writeFileAtomically(stagedManifest, text))
    return err;

  // A previous index in outDir would name shards that change now.
  for (const char *name : {"tensor-cache.json", "tensor-cache-b16.json"}) {
    std::string path = joinPath(outDir, name);
    if (std::error_code ec = llvm::sys::fs::remove(path, true))
      return fail("cannot remove '" + path + "': " + ec.message());
  }
  std::string partsDir = joinPath(outDir, kPartsDir);
  if (std::error_code ec = llvm::sys::fs::create_directories(partsDir))
    return fail("cannot create '" + partsDir + "': " + ec.message());
  auto move = [&](const std::string &from,
                  const std::string &to) -> llvm::Error {
    if (std::error_code ec = llvm::sys::fs::rename(from, to))
      return fail("cannot move '" + from + "' to '" + to +
                  "': " + ec.message());
    movedFiles.push_back(to);
    return llvm::Error::success();
  };
  for (size_t k = 0; k < inPart.size(); ++k)
    if (inPart[k])
      if (llvm::Error err = move(stagedShardPath(k), finalShardPath(k)))
        return err;
  if (llvm::Error err = move(stagedManifest, partManifestPath(outDir, *part)))
    return err;
  movedFiles.clear();
  llvm::sys::fs::remove_directories(stagingDir, /*IgnoreErrors=*/true);
  stagingDir.clear();
  return llvm::Error::success();
}

//===----------------------------------------------------------------------===//
// merge-parts
//===----------------------------------------------------------------------===//

namespace {
struct Manifest {
  std::string file; // "part-2-of-3.json"
  uint32_t index = 0, count = 0;
  llvm::json::Value plan = nullptr;
  struct Shard {
    std::string name;
    uint64_t nbytes;
    std::string md5;
  };
  std::vector<Shard> shards;
};
} // namespace

/// "part-<I>-of-<N>.json" -> (I, N).
static bool parseManifestName(llvm::StringRef name, uint32_t &i, uint32_t &n) {
  llvm::StringRef rest = name;
  if (!rest.consume_front("part-") || !rest.consume_back(".json"))
    return false;
  auto [a, b] = rest.split("-of-");
  return !a.getAsInteger(10, i) && !b.getAsInteger(10, n) && i >= 1 &&
         n >= 1 && i <= n &&
         name == "part-" + std::to_string(i) + "-of-" + std::to_string(n) +
                     ".json";
}

static llvm::Expected<Manifest> readManifest(const std::string &path,
                                             llvm::StringRef file) {
  Manifest m;
  m.file = file.str();
  auto bad = [&](const llvm::Twine &why) {
    return fail("cannot read part manifest '" + path + "': " + why);
  };
  auto buf = llvm::MemoryBuffer::getFile(path);
  if (!buf)
    return bad(buf.getError().message());
  llvm::Expected<llvm::json::Value> v = llvm::json::parse((*buf)->getBuffer());
  if (!v)
    return bad(llvm::toString(v.takeError()));
  const llvm::json::Object *o = v->getAsObject();
  if (!o || o->getString("format") != std::optional<llvm::StringRef>(
                                           kManifestFormat))
    return bad("not a quant-opt part manifest");
  std::optional<int64_t> part = o->getInteger("part"),
                         parts = o->getInteger("parts");
  const llvm::json::Array *shards = o->getArray("shards");
  const llvm::json::Value *plan = o->get("plan");
  if (!part || !parts || !shards || !plan || !plan->getAsObject())
    return bad("a field is missing");
  uint32_t fi, fn;
  parseManifestName(file, fi, fn);
  if (*part != fi || *parts != fn)
    return bad("it says part " + llvm::Twine(*part) + " of " +
               llvm::Twine(*parts));
  m.index = fi;
  m.count = fn;
  m.plan = *plan;
  for (const llvm::json::Value &s : *shards) {
    const llvm::json::Object *so = s.getAsObject();
    std::optional<llvm::StringRef> name = so ? so->getString("name") : std::nullopt;
    std::optional<int64_t> nbytes = so ? so->getInteger("nbytes") : std::nullopt;
    std::optional<llvm::StringRef> md5 = so ? so->getString("md5") : std::nullopt;
    if (!name || !nbytes || !md5 || *nbytes < 0)
      return bad("a shard entry is malformed");
    m.shards.push_back({name->str(), uint64_t(*nbytes), md5->str()});
  }
  return m;
}

/// The first difference between two plans, in words ("" when equal).
static std::string planDifference(const llvm::json::Object &a,
                                  const llvm::json::Object &b) {
  const llvm::json::Object *ia = a.getObject("identity");
  const llvm::json::Object *ib = b.getObject("identity");
  if (ia && ib) {
    std::vector<std::string> keys;
    for (const auto &kv : *ia)
      keys.push_back(kv.first.str());
    for (const auto &kv : *ib)
      keys.push_back(kv.first.str());
    std::sort(keys.begin(), keys.end());
    for (const std::string &k : keys) {
      std::string va = ia->getString(k).value_or("").str();
      std::string vb = ib->getString(k).value_or("").str();
      if (va != vb)
        return k + " '" + va + "' vs '" + vb + "'";
    }
  }
  for (const char *field : {"parts", "records", "shard_cap_bytes",
                            "shard_bytes", "shard_parts", "metadata"}) {
    const llvm::json::Value *va = a.get(field), *vb = b.get(field);
    if (!va || !vb || *va != *vb) {
      if (llvm::StringRef(field) == "records")
        return "different parameter records";
      if (llvm::StringRef(field) == "metadata")
        return "different statistics";
      if (llvm::StringRef(field) == "parts")
        return "a different part count";
      return "a different shard layout";
    }
  }
  return "";
}

/// Rebuilds the records and statistics from a (checked) plan object.
static llvm::Error planRecords(const llvm::json::Object &plan,
                               const std::string &where,
                               std::vector<RecordSpec> &records,
                               Statistics &stats, uint64_t &cap) {
  auto bad = [&](const llvm::Twine &why) {
    return fail("cannot read part manifest '" + where + "': " + why);
  };
  const llvm::json::Array *recs = plan.getArray("records");
  const llvm::json::Object *meta = plan.getObject("metadata");
  std::optional<int64_t> capv = plan.getInteger("shard_cap_bytes");
  if (!recs || !meta || !capv || *capv <= 0)
    return bad("the plan is malformed");
  cap = uint64_t(*capv);
  for (const llvm::json::Value &r : *recs) {
    const llvm::json::Array *a = r.getAsArray();
    if (!a || a->size() != 3)
      return bad("a record is malformed");
    std::optional<llvm::StringRef> name = (*a)[0].getAsString();
    const llvm::json::Array *shape = (*a)[1].getAsArray();
    std::optional<llvm::StringRef> dt = (*a)[2].getAsString();
    std::optional<numerics::DType> dtype =
        dt ? numerics::parseTvmName(*dt) : std::nullopt;
    if (!name || !shape || !dtype)
      return bad("a record is malformed");
    RecordSpec spec{name->str(), {}, *dtype};
    for (const llvm::json::Value &d : *shape) {
      std::optional<int64_t> n = d.getAsInteger();
      if (!n || *n < 0)
        return bad("a record is malformed");
      spec.shape.push_back(*n);
    }
    records.push_back(std::move(spec));
  }
  std::optional<int64_t> ps = meta->getInteger("ParamSize"),
                         pb = meta->getInteger("ParamBytes"),
                         tp = meta->getInteger("TotalParams");
  if (!ps || !pb || !tp || *pb < 0 || *tp < 0)
    return bad("the statistics are malformed");
  stats.paramSize = *ps;
  stats.paramBytes = uint64_t(*pb);
  stats.totalParams = uint64_t(*tp);
  return llvm::Error::success();
}

llvm::Error mergeParts(llvm::StringRef outDir, unsigned threads) {
  std::string partsDir = joinPath(outDir, kPartsDir);
  std::map<std::pair<uint32_t, uint32_t>, std::string> found; // (N, I)
  std::error_code ec;
  for (llvm::sys::fs::directory_iterator it(partsDir, ec), end;
       it != end && !ec; it.increment(ec)) {
    llvm::StringRef file = llvm::sys::path::filename(it->path());
    uint32_t i, n;
    if (parseManifestName(file, i, n))
      found[{n, i}] = file.str();
  }
  if (ec && ec != std::errc::no_such_file_or_directory)
    return fail("cannot list '" + partsDir + "': " + ec.message());
  if (found.empty())
    return fail("no part manifests in '" + partsDir +
                "' (write them with quant-opt convert ... --part I/N)");
  uint32_t n = found.begin()->first.first;
  for (const auto &[key, file] : found)
    if (key.first != n)
      return fail("'" + partsDir + "' holds manifests of different splits: " +
                  found.begin()->second + " and " + file);
  std::vector<Manifest> parts;
  for (uint32_t i = 1; i <= n; ++i) {
    auto it = found.find({n, i});
    if (it == found.end())
      return fail("part " + llvm::Twine(i) + " of " + llvm::Twine(n) +
                  " is missing: '" + partManifestPath(outDir, {i, n}) +
                  "' does not exist");
    llvm::Expected<Manifest> m =
        readManifest(joinPath(partsDir, it->second), it->second);
    if (!m)
      return m.takeError();
    parts.push_back(std::move(*m));
  }
  const llvm::json::Object &plan = *parts[0].plan.getAsObject();
  for (const Manifest &m : parts) {
    std::string diff = planDifference(plan, *m.plan.getAsObject());
    if (!diff.empty())
      return fail("part " + llvm::Twine(m.index) + " of " + llvm::Twine(n) +
                  " was planned differently from part 1: " + diff);
  }

  std::vector<RecordSpec> records;
  Statistics stats;
  uint64_t cap = 0;
  std::string where = joinPath(partsDir, parts[0].file);
  if (llvm::Error err = planRecords(plan, where, records, stats, cap))
    return err;
  ShardPlan shardPlan = planShards(records, cap);
  const llvm::json::Array *planBytes = plan.getArray("shard_bytes");
  std::vector<uint64_t> bytes;
  for (const llvm::json::Value &b : planBytes ? *planBytes : llvm::json::Array())
    bytes.push_back(uint64_t(b.getAsInteger().value_or(-1)));
  if (bytes != shardPlan.shardBytes)
    return fail("cannot read part manifest '" + where +
                "': its shard sizes do not follow from its records");
  std::vector<uint32_t> owner = assignShardsToParts(bytes, n);

  // Every shard listed by the part that owns it, with its size and md5.
  size_t numShards = bytes.size();
  std::vector<const Manifest::Shard *> listed(numShards, nullptr);
  for (const Manifest &m : parts) {
    for (const Manifest::Shard &s : m.shards) {
      std::optional<size_t> k;
      for (size_t j = 0; j < numShards && !k; ++j)
        if (s.name == shardName(j))
          k = j;
      if (!k || owner[*k] + 1 != m.index || listed[*k] ||
          s.nbytes != bytes[*k])
        return fail("part " + llvm::Twine(m.index) + " of " + llvm::Twine(n) +
                    " lists '" + s.name + "', which is not its shard in the "
                    "plan");
      listed[*k] = &s;
    }
  }
  std::vector<Md5File> files;
  for (size_t k = 0; k < numShards; ++k) {
    std::string path = joinPath(outDir, shardName(k));
    std::string who = "part " + std::to_string(owner[k] + 1) + " of " +
                      std::to_string(n);
    if (!listed[k])
      return fail(who + " does not list '" + shardName(k) + "'");
    llvm::sys::fs::file_status st;
    if (llvm::sys::fs::status(path, st) || !llvm::sys::fs::exists(st))
      return fail("'" + path + "' is missing (" + who + " wrote it)");
    if (st.getSize() != bytes[k])
      return fail("'" + path + "' has " + llvm::Twine(st.getSize()) +
                  " bytes; " + who + " wrote " + llvm::Twine(bytes[k]));
    files.push_back({path, bytes[k], path});
  }
  llvm::Expected<std::vector<std::string>> md5 = md5Files(
      files, threads ? threads : std::max(1u, std::thread::hardware_concurrency()));
  if (!md5)
    return md5.takeError();
  for (size_t k = 0; k < numShards; ++k)
    if ((*md5)[k] != listed[k]->md5)
      return fail("'" + files[k].path + "' has md5 " + (*md5)[k] + "; part " +
                  llvm::Twine(owner[k] + 1) + " of " + llvm::Twine(n) +
                  " wrote " + listed[k]->md5);

  // Publish: stale shards of an earlier, larger cache go, then the index.
  llvm::Expected<Metadata> meta = stats.metadata();
  if (!meta)
    return meta.takeError();
  std::vector<std::string> stale;
  for (llvm::sys::fs::directory_iterator it(outDir, ec), end;
       it != end && !ec; it.increment(ec)) {
    llvm::StringRef file = llvm::sys::path::filename(it->path());
    llvm::StringRef digits = file;
    uint64_t k;
    if (digits.consume_front("params_shard_") && digits.consume_back(".bin") &&
        !digits.getAsInteger(10, k) && shardName(k) == file && k >= numShards)
      stale.push_back(it->path());
  }
  for (const std::string &path : stale)
    if (std::error_code e = llvm::sys::fs::remove(path))
      return fail("cannot remove '" + path + "': " + e.message());
  bool hasF32 = false;
  for (const RecordSpec &r : records)
    hasF32 |= r.dtype == numerics::DType::F32;
  for (bool b16 : {false, true}) {
    if (b16 && !hasF32)
      break;
    std::string text = renderTensorCacheJson(records, shardPlan, *md5, *meta, b16);
    std::string path =
        joinPath(outDir, b16 ? "tensor-cache-b16.json" : "tensor-cache.json");
    if (llvm::Error err = writeFileAtomically(path, text))
      return err;
  }
  for (const Manifest &m : parts)
    llvm::sys::fs::remove(joinPath(partsDir, m.file));
  llvm::sys::fs::remove(partsDir);
  return llvm::Error::success();
}

} // namespace qopt::tensorcache
