//===- gen-llama.cpp - Synthetic Llama checkpoint generator -----*- C++ -*-===//
//
// Writes a Llama `config.json` and a single `model.safetensors` laid out as
// transformers' save_pretrained writes them (header JSON with
// `__metadata__` first and the tensors sorted by name, padded with spaces to
// a multiple of 8 bytes, data contiguous in name order), in float16 or
// bfloat16, for benchmarking `quant-opt convert`.
//
// Values are deterministic: element i of tensor t is a table lookup indexed by
// 16 bits of splitmix64(seed, t, i / 4). The table holds the 65536 quantiles
// of N(0, 0.02) (N(1, 0.05) for norm weights) with 8 entries replaced by
// outliers of 5 to 25 sigma, so about one value in 8192 is an outlier. The
// file is streamed in 8 MiB blocks (memory stays bounded) and is the same for
// every run with the same flags.
//
//   qopt-bench-gen OUT_DIR --preset 1b|3b|tiny [--dtype f16|bf16]
//                  [--hidden N] [--intermediate N] [--layers N] [--heads N]
//                  [--kv-heads N] [--vocab N] [--tied] [--seed N]
//
//===----------------------------------------------------------------------===//

#include "qopt/Numerics/Float.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace {

/// Model dimensions of a Llama checkpoint.
struct Dims {
  int64_t hidden = 0, intermediate = 0, layers = 0, heads = 0, kvHeads = 0,
          vocab = 0;
  bool tied = false;
};

struct Options {
  std::string outDir;
  Dims dims;
  bool bf16 = false;
  uint64_t seed = 0;
};

/// One tensor of the checkpoint.
struct Tensor {
  std::string name;
  std::vector<int64_t> shape;
  bool isNorm = false;
  uint64_t numElements = 0;
  uint64_t begin = 0, end = 0;
};

[[noreturn]] void fail(const std::string &msg) {
  std::fprintf(stderr, "qopt-bench-gen: %s\n", msg.c_str());
  std::exit(1);
}

constexpr uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

/// The standard normal quantile at p in (0, 1), by bisection on erfc.
double normalQuantile(double p) {
  double lo = -10.0, hi = 10.0;
  for (int i = 0; i < 48; ++i) {
    double mid = 0.5 * (lo + hi);
    if (0.5 * std::erfc(-mid / std::sqrt(2.0)) < p)
      lo = mid;
    else
      hi = mid;
  }
  return 0.5 * (lo + hi);
}

/// The 65536 quantiles of N(0, 1) at (i + 0.5) / 65536.
std::vector<double> standardQuantiles() {
  std::vector<double> z(65536);
  for (size_t i = 0; i < z.size() / 2; ++i) {
    z[i] = normalQuantile((double(i) + 0.5) / double(z.size()));
    z[z.size() - 1 - i] = -z[i];
  }
  return z;
}

/// 65536 model-dtype values: quantiles of N(mean, sigma) plus outliers.
std::vector<uint16_t> makeTable(const std::vector<double> &z, double mean,
                                double sigma, bool bf16, uint64_t seed) {
  std::vector<uint16_t> table(z.size());
  for (size_t i = 0; i < table.size(); ++i) {
    float v = float(mean + sigma * z[i]);
    table[i] = bf16 ? qopt::numerics::floatToBFloat16(v)
                    : qopt::numerics::floatToHalf(v);
  }
  // Outliers: 8 entries at pseudo-random places, 5..25 sigma, either sign.
  uint64_t s = splitmix64(seed ^ 0x6F75746C69657273ull);
  for (int j = 0; j < 8; ++j) {
    s = splitmix64(s);
    size_t at = size_t(s & 0xFFFF);
    double mag = 5.0 + double((s >> 16) % 2001) / 100.0;
    double sign = (s >> 40) & 1 ? -1.0 : 1.0;
    float v = float(mean + sign * mag * sigma);
    table[at] = bf16 ? qopt::numerics::floatToBFloat16(v)
                     : qopt::numerics::floatToHalf(v);
  }
  return table;
}

bool parseCount(const char *text, int64_t &out) {
  char *end = nullptr;
  errno = 0;
  long long v = std::strtoll(text, &end, 10);
  if (!*text || *end || errno || v <= 0 || v > (int64_t(1) << 40))
    return false;
  out = v;
  return true;
}

void usage() {
  std::fputs(
      "usage: qopt-bench-gen OUT_DIR --preset 1b|3b|tiny [--dtype f16|bf16]\n"
      "         [--hidden N] [--intermediate N] [--layers N] [--heads N]\n"
      "         [--kv-heads N] [--vocab N] [--tied] [--seed N]\n"
      "presets: 1b   = TinyLlama-1.1B dims (hidden 2048, ffn 5632, 22 layers,\n"
      "                32 heads, 4 kv heads, vocab 32000), 1.10e9 params\n"
      "         3b   = hidden 3072, ffn 8192, 26 layers, 24 heads, 8 kv "
      "heads,\n"
      "                vocab 32000, 2.81e9 params\n"
      "         tiny = hidden 256, ffn 704, 2 layers, 8 heads, 2 kv heads,\n"
      "                vocab 1000\n",
      stderr);
}

Options parseArgs(int argc, char **argv) {
  Options o;
  bool havePreset = false;
  Dims overrides;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> const char * {
      if (i + 1 >= argc)
        fail(a + " needs a value");
      return argv[++i];
    };
    auto count = [&](int64_t &dst) {
      const char *v = next();
      if (!parseCount(v, dst))
        fail(a + " needs a positive integer, got '" + v + "'");
    };
    if (a == "-h" || a == "--help") {
      usage();
      std::exit(0);
    } else if (a == "--preset") {
      std::string p = next();
      havePreset = true;
      if (p == "1b")
        o.dims = {2048, 5632, 22, 32, 4, 32000, false};
      else if (p == "3b")
        o.dims = {3072, 8192, 26, 24, 8, 32000, false};
      else if (p == "tiny")
        o.dims = {256, 704, 2, 8, 2, 1000, false};
      else
        fail("unknown preset '" + p + "' (valid: 1b, 3b, tiny)");
    } else if (a == "--dtype") {
      std::string d = next();
      if (d == "f16" || d == "float16")
        o.bf16 = false;
      else if (d == "bf16" || d == "bfloat16")
        o.bf16 = true;
      else
        fail("unknown dtype '" + d + "' (valid: f16, bf16)");
    } else if (a == "--hidden") {
      count(overrides.hidden);
    } else if (a == "--intermediate") {
      count(overrides.intermediate);
    } else if (a == "--layers") {
      count(overrides.layers);
    } else if (a == "--heads") {
      count(overrides.heads);
    } else if (a == "--kv-heads") {
      count(overrides.kvHeads);
    } else if (a == "--vocab") {
      count(overrides.vocab);
    } else if (a == "--tied") {
      overrides.tied = true;
    } else if (a == "--seed") {
      int64_t s;
      count(s);
      o.seed = uint64_t(s);
    } else if (!a.empty() && a[0] == '-') {
      usage();
      fail("unknown option '" + a + "'");
    } else if (o.outDir.empty()) {
      o.outDir = a;
    } else {
      fail("unexpected argument '" + a + "'");
    }
  }
  if (o.outDir.empty()) {
    usage();
    fail("missing OUT_DIR");
  }
  Dims &d = o.dims;
  for (auto [dst, src] : {std::pair{&d.hidden, overrides.hidden},
                          {&d.intermediate, overrides.intermediate},
                          {&d.layers, overrides.layers},
                          {&d.heads, overrides.heads},
                          {&d.kvHeads, overrides.kvHeads},
                          {&d.vocab, overrides.vocab}})
    if (src)
      *dst = src;
  d.tied |= overrides.tied;
  if (!havePreset && !(d.hidden && d.intermediate && d.layers && d.heads &&
                       d.kvHeads && d.vocab))
    fail("without --preset, give all of --hidden --intermediate --layers "
         "--heads --kv-heads --vocab");
  if (d.hidden % d.heads != 0)
    fail("--hidden " + std::to_string(d.hidden) +
         " is not a multiple of --heads " + std::to_string(d.heads));
  if (d.heads % d.kvHeads != 0)
    fail("--heads " + std::to_string(d.heads) +
         " is not a multiple of --kv-heads " + std::to_string(d.kvHeads));
  return o;
}

/// The tensors of a Llama checkpoint, sorted by name, with data offsets.
std::vector<Tensor> layout(const Dims &d, uint64_t elemSize) {
  const int64_t headDim = d.hidden / d.heads;
  const int64_t qDim = d.heads * headDim, kvDim = d.kvHeads * headDim;
  std::vector<Tensor> ts;
  auto add = [&](std::string name, std::vector<int64_t> shape) {
    bool isNorm = name.size() >= 11 &&
                  name.compare(name.size() - 11, 11, "norm.weight") == 0;
    ts.push_back({std::move(name), std::move(shape), isNorm, 0, 0, 0});
  };
  add("model.embed_tokens.weight", {d.vocab, d.hidden});
  add("model.norm.weight", {d.hidden});
  if (!d.tied)
    add("lm_head.weight", {d.vocab, d.hidden});
  for (int64_t l = 0; l < d.layers; ++l) {
    std::string p = "model.layers." + std::to_string(l) + ".";
    add(p + "self_attn.q_proj.weight", {qDim, d.hidden});
    add(p + "self_attn.k_proj.weight", {kvDim, d.hidden});
    add(p + "self_attn.v_proj.weight", {kvDim, d.hidden});
    add(p + "self_attn.o_proj.weight", {d.hidden, qDim});
    add(p + "mlp.gate_proj.weight", {d.intermediate, d.hidden});
    add(p + "mlp.up_proj.weight", {d.intermediate, d.hidden});
    add(p + "mlp.down_proj.weight", {d.hidden, d.intermediate});
    add(p + "input_layernorm.weight", {d.hidden});
    add(p + "post_attention_layernorm.weight", {d.hidden});
  }
  std::sort(ts.begin(), ts.end(),
            [](const Tensor &a, const Tensor &b) { return a.name < b.name; });
  uint64_t offset = 0;
  for (Tensor &t : ts) {
    uint64_t n = 1;
    for (int64_t s : t.shape) {
      if (n > UINT64_MAX / uint64_t(s))
        fail("tensor '" + t.name + "' is too large");
      n *= uint64_t(s);
    }
    if (n > (UINT64_MAX - offset) / elemSize)
      fail("checkpoint is too large");
    t.numElements = n;
    t.begin = offset;
    offset += n * elemSize;
    t.end = offset;
  }
  return ts;
}

/// The safetensors header JSON, padded with spaces to a multiple of 8.
std::string header(const std::vector<Tensor> &ts, bool bf16) {
  std::string h = "{\"__metadata__\":{\"format\":\"pt\"}";
  for (const Tensor &t : ts) {
    h += ",\"" + t.name + "\":{\"dtype\":\"" + (bf16 ? "BF16" : "F16") +
         "\",\"shape\":[";
    for (size_t i = 0; i < t.shape.size(); ++i)
      h += (i ? "," : "") + std::to_string(t.shape[i]);
    h += "],\"data_offsets\":[" + std::to_string(t.begin) + "," +
         std::to_string(t.end) + "]}";
  }
  h += "}";
  h.append((8 - h.size() % 8) % 8, ' ');
  return h;
}

/// config.json as transformers 5 writes it (keys sorted, indent 2).
std::string config(const Dims &d, bool bf16) {
  const char *dtype = bf16 ? "bfloat16" : "float16";
  auto n = [](int64_t v) { return std::to_string(v); };
  std::string c;
  c += "{\n";
  c += "  \"architectures\": [\n    \"LlamaForCausalLM\"\n  ],\n";
  c += "  \"attention_bias\": false,\n";
  c += "  \"attention_dropout\": 0.0,\n";
  c += "  \"bos_token_id\": 1,\n";
  c += std::string("  \"dtype\": \"") + dtype + "\",\n";
  c += "  \"eos_token_id\": 2,\n";
  c += "  \"head_dim\": " + n(d.hidden / d.heads) + ",\n";
  c += "  \"hidden_act\": \"silu\",\n";
  c += "  \"hidden_size\": " + n(d.hidden) + ",\n";
  c += "  \"initializer_range\": 0.02,\n";
  c += "  \"intermediate_size\": " + n(d.intermediate) + ",\n";
  c += "  \"max_position_embeddings\": 2048,\n";
  c += "  \"mlp_bias\": false,\n";
  c += "  \"model_type\": \"llama\",\n";
  c += "  \"num_attention_heads\": " + n(d.heads) + ",\n";
  c += "  \"num_hidden_layers\": " + n(d.layers) + ",\n";
  c += "  \"num_key_value_heads\": " + n(d.kvHeads) + ",\n";
  c += "  \"pad_token_id\": null,\n";
  c += "  \"pretraining_tp\": 1,\n";
  c += "  \"rms_norm_eps\": 1e-05,\n";
  c += "  \"rope_parameters\": {\n    \"rope_theta\": 10000.0,\n"
       "    \"rope_type\": \"default\"\n  },\n";
  c += std::string("  \"tie_word_embeddings\": ") +
       (d.tied ? "true" : "false") + ",\n";
  c += "  \"transformers_version\": \"5.17.0\",\n";
  c += "  \"use_cache\": true,\n";
  c += "  \"vocab_size\": " + n(d.vocab) + "\n";
  c += "}\n";
  return c;
}

/// Writes all of [p, p + n) to fd.
void writeAll(int fd, const void *p, size_t n, const std::string &path) {
  auto *c = static_cast<const char *>(p);
  while (n) {
    ssize_t w = ::write(fd, c, std::min<size_t>(n, size_t(1) << 30));
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      fail(path + ": write failed: " + std::strerror(errno));
    c += w;
    n -= size_t(w);
  }
}

void writeFile(const std::string &path, const std::string &text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0)
    fail(path + ": cannot create: " + std::strerror(errno));
  writeAll(fd, text.data(), text.size(), path);
  if (::close(fd) != 0)
    fail(path + ": close failed: " + std::strerror(errno));
}

/// Fills out[0, n) with elements [first, first + n) of tensor `id`; first is
/// a multiple of 4.
void fill(uint16_t *out, uint64_t first, uint64_t n, uint64_t key,
          const uint16_t *table) {
  uint64_t q = first / 4;
  uint64_t i = 0;
  for (; i + 4 <= n; i += 4, ++q) {
    uint64_t w = splitmix64(key + q);
    out[i] = table[w & 0xFFFF];
    out[i + 1] = table[(w >> 16) & 0xFFFF];
    out[i + 2] = table[(w >> 32) & 0xFFFF];
    out[i + 3] = table[w >> 48];
  }
  uint64_t w = splitmix64(key + q);
  for (; i < n; ++i, w >>= 16)
    out[i] = table[w & 0xFFFF];
}

} // namespace

int main(int argc, char **argv) {
  Options o = parseArgs(argc, argv);
  auto start = std::chrono::steady_clock::now();
  if (::mkdir(o.outDir.c_str(), 0755) != 0 && errno != EEXIST)
    fail(o.outDir + ": cannot create directory: " + std::strerror(errno));
  writeFile(o.outDir + "/config.json", config(o.dims, o.bf16));

  std::vector<Tensor> ts = layout(o.dims, 2);
  std::string h = header(ts, o.bf16);
  std::vector<double> z = standardQuantiles();
  std::vector<uint16_t> weights = makeTable(z, 0.0, 0.02, o.bf16, o.seed);
  std::vector<uint16_t> norms = makeTable(z, 1.0, 0.05, o.bf16, o.seed + 1);

  std::string path = o.outDir + "/model.safetensors";
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0)
    fail(path + ": cannot create: " + std::strerror(errno));
  uint8_t len[8];
  for (int i = 0; i < 8; ++i)
    len[i] = uint8_t(uint64_t(h.size()) >> (8 * i));
  writeAll(fd, len, 8, path);
  writeAll(fd, h.data(), h.size(), path);

  constexpr uint64_t kBlock = uint64_t(4) << 20; // elements (8 MiB)
  std::vector<uint16_t> buf(kBlock);
  uint64_t params = 0;
  for (size_t t = 0; t < ts.size(); ++t) {
    const Tensor &tensor = ts[t];
    const uint64_t key = splitmix64(o.seed) + (uint64_t(t) << 40);
    const uint16_t *table = tensor.isNorm ? norms.data() : weights.data();
    for (uint64_t e = 0; e < tensor.numElements; e += kBlock) {
      uint64_t n = std::min(kBlock, tensor.numElements - e);
      fill(buf.data(), e, n, key, table);
      writeAll(fd, buf.data(), n * 2, path);
    }
    params += tensor.numElements;
  }
  if (::close(fd) != 0)
    fail(path + ": close failed: " + std::strerror(errno));
  double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  uint64_t bytes = 8 + h.size() + ts.back().end;
  std::printf("%s: %zu tensors, %.3f B params, %.3f GB, %.2f s (%.2f GB/s)\n",
              path.c_str(), ts.size(), double(params) / 1e9,
              double(bytes) / 1e9, secs, double(bytes) / 1e9 / secs);
  return 0;
}
