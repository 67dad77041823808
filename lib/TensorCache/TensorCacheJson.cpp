//===- TensorCacheJson.cpp - Python-exact JSON and statistics ---*- C++ -*-===//
//
// Renders tensor-cache.json exactly as Python's json.dump(obj, f, indent=4)
// does, plus the statistics convert_weight prints.
//
//===----------------------------------------------------------------------===//

#include "qopt/TensorCache/TensorCache.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace qopt::tensorcache {

std::string pythonFloatRepr(double v) {
  if (std::isnan(v))
    return "NaN";
  if (std::isinf(v))
    return v > 0 ? "Infinity" : "-Infinity";

  // Shortest round-trip digits in scientific form: "-1.2345e+17", "5e-324",
  // "0e+00". Then re-lay them out the way Python's repr does.
  char buf[64];
  auto res =
      std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  std::string out;
  size_t pos = 0;
  if (sci[0] == '-') {
    out.push_back('-');
    pos = 1;
  }
  size_t ePos = sci.find('e');
  std::string digits;
  for (size_t i = pos; i < ePos; ++i)
    if (sci[i] != '.')
      digits.push_back(sci[i]);
  int exp10 = std::atoi(sci.c_str() + ePos + 1);

  if (exp10 < -4 || exp10 >= 16) {
    out.push_back(digits[0]);
    if (digits.size() > 1) {
      out.push_back('.');
      out.append(digits, 1, std::string::npos);
    }
    char expBuf[16];
    std::snprintf(expBuf, sizeof(expBuf), "e%c%02d", exp10 < 0 ? '-' : '+',
                  std::abs(exp10));
    out += expBuf;
    return out;
  }
  if (exp10 < 0) {
    out += "0.";
    out.append(static_cast<size_t>(-exp10 - 1), '0');
    out += digits;
    return out;
  }
  auto intDigits = static_cast<size_t>(exp10) + 1;
  if (digits.size() <= intDigits) {
    out += digits;
    out.append(intDigits - digits.size(), '0');
    out += ".0";
    return out;
  }
  out.append(digits, 0, intDigits);
  out.push_back('.');
  out.append(digits, intDigits, std::string::npos);
  return out;
}

/// Decodes one UTF-8 code point at `s[i]`, advancing `i`. Returns -1 (and
/// advances by one byte) for an invalid, overlong or surrogate sequence.
static int32_t decodeUtf8(llvm::StringRef s, size_t &i) {
  auto b0 = static_cast<uint8_t>(s[i]);
  if (b0 < 0x80) {
    ++i;
    return b0;
  }
  size_t len;
  uint32_t cp;
  uint32_t minCp;
  if ((b0 & 0xE0) == 0xC0) {
    len = 2;
    cp = b0 & 0x1F;
    minCp = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3;
    cp = b0 & 0x0F;
    minCp = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4;
    cp = b0 & 0x07;
    minCp = 0x10000;
  } else {
    ++i;
    return -1;
  }
  if (s.size() - i < len) {
    ++i;
    return -1;
  }
  for (size_t k = 1; k < len; ++k) {
    auto b = static_cast<uint8_t>(s[i + k]);
    if ((b & 0xC0) != 0x80) {
      ++i;
      return -1;
    }
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < minCp || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    ++i;
    return -1;
  }
  i += len;
  return static_cast<int32_t>(cp);
}

bool isValidUtf8(llvm::StringRef s) {
  for (size_t i = 0; i < s.size();)
    if (decodeUtf8(s, i) < 0)
      return false;
  return true;
}

static void appendUnicodeEscape(std::string &out, uint32_t unit) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "\\u%04x", unit);
  out += buf;
}

std::string pythonJsonString(llvm::StringRef utf8) {
  std::string out = "\"";
  for (size_t i = 0; i < utf8.size();) {
    int32_t cp = decodeUtf8(utf8, i);
    if (cp < 0)
      cp = 0xFFFD;
    switch (cp) {
    case '"':
      out += "\\\"";
      continue;
    case '\\':
      out += "\\\\";
      continue;
    case '\n':
      out += "\\n";
      continue;
    case '\r':
      out += "\\r";
      continue;
    case '\t':
      out += "\\t";
      continue;
    case '\b':
      out += "\\b";
      continue;
    case '\f':
      out += "\\f";
      continue;
    default:
      break;
    }
    if (cp >= ' ' && cp <= '~') {
      out.push_back(static_cast<char>(cp));
    } else if (cp < 0x10000) {
      appendUnicodeEscape(out, static_cast<uint32_t>(cp));
    } else {
      uint32_t v = static_cast<uint32_t>(cp) - 0x10000;
      appendUnicodeEscape(out, 0xD800 | (v >> 10));
      appendUnicodeEscape(out, 0xDC00 | (v & 0x3FF));
    }
  }
  out.push_back('"');
  return out;
}

std::string formatThousands(uint64_t v) {
  std::string digits = std::to_string(v);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i != 0 && (digits.size() - i) % 3 == 0)
      out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

/// Starts a new line at json.dump's indent=4 for nesting `level`.
static void newline(std::string &out, int level) {
  out.push_back('\n');
  out.append(static_cast<size_t>(level) * 4, ' ');
}

/// Appends `"key": ` on a new line at `level`.
static void key(std::string &out, int level, const char *name) {
  newline(out, level);
  out.push_back('"');
  out += name;
  out += "\": ";
}

static void renderRecord(std::string &out, const RecordSpec &rec,
                         const ShardPlan::Placement &placement, int level,
                         bool b16Variant) {
  bool asBf16 = b16Variant && rec.dtype == numerics::DType::F32;
  out.push_back('{');
  key(out, level + 1, "name");
  out += pythonJsonString(rec.name);
  out.push_back(',');
  key(out, level + 1, "shape");
  if (rec.shape.empty()) {
    out += "[]";
  } else {
    out.push_back('[');
    for (size_t d = 0; d < rec.shape.size(); ++d) {
      if (d != 0)
        out.push_back(',');
      newline(out, level + 2);
      out += std::to_string(rec.shape[d]);
    }
    newline(out, level + 1);
    out.push_back(']');
  }
  out.push_back(',');
  key(out, level + 1, "dtype");
  out += pythonJsonString(asBf16 ? "bfloat16"
                                 : std::string(numerics::tvmName(rec.dtype)));
  out.push_back(',');
  key(out, level + 1, "format");
  out += asBf16 ? "\"raw\"" : "\"f32-to-bf16\"";
  out.push_back(',');
  key(out, level + 1, "nbytes");
  out += std::to_string(rec.fileBytes());
  out.push_back(',');
  key(out, level + 1, "byteOffset");
  out += std::to_string(placement.byteOffset);
  newline(out, level);
  out.push_back('}');
}

std::string renderTensorCacheJson(const std::vector<RecordSpec> &records,
                                  const ShardPlan &plan,
                                  const std::vector<std::string> &md5Hex,
                                  const Metadata &meta, bool b16Variant) {
  std::string out = "{";
  key(out, 1, "metadata");
  out.push_back('{');
  key(out, 2, "ParamSize");
  out += std::to_string(meta.paramSize);
  out.push_back(',');
  key(out, 2, "ParamBytes");
  out += pythonFloatRepr(static_cast<double>(meta.paramBytes));
  out.push_back(',');
  key(out, 2, "BitsPerParam");
  out += pythonFloatRepr(meta.bitsPerParam);
  newline(out, 1);
  out += "},";
  key(out, 1, "records");
  size_t numShards = plan.shardBytes.size();
  if (numShards == 0) {
    out += "[]";
  } else {
    out.push_back('[');
    for (size_t s = 0; s < numShards; ++s) {
      if (s != 0)
        out.push_back(',');
      newline(out, 2);
      out.push_back('{');
      key(out, 3, "dataPath");
      out += "\"params_shard_" + std::to_string(s) + ".bin\",";
      key(out, 3, "format");
      out += "\"raw-shard\",";
      key(out, 3, "nbytes");
      out += std::to_string(plan.shardBytes[s]);
      out.push_back(',');
      key(out, 3, "records");
      const std::vector<size_t> *recs =
          s < plan.shardRecords.size() ? &plan.shardRecords[s] : nullptr;
      if (!recs || recs->empty()) {
        out += "[]";
      } else {
        out.push_back('[');
        for (size_t k = 0; k < recs->size(); ++k) {
          size_t r = (*recs)[k];
          if (k != 0)
            out.push_back(',');
          newline(out, 4);
          if (r < records.size() && r < plan.placements.size())
            renderRecord(out, records[r], plan.placements[r], 4, b16Variant);
          else
            out += "null";
        }
        newline(out, 3);
        out.push_back(']');
      }
      out.push_back(',');
      key(out, 3, "md5sum");
      out += pythonJsonString(s < md5Hex.size() ? md5Hex[s] : "");
      newline(out, 2);
      out.push_back('}');
    }
    newline(out, 1);
    out.push_back(']');
  }
  newline(out, 0);
  out.push_back('}');
  return out;
}

Statistics Statistics::fromRecords(const std::vector<RecordSpec> &records) {
  Statistics stats;
  stats.paramSize = static_cast<int64_t>(records.size());
  for (const RecordSpec &rec : records) {
    uint64_t b = rec.memBytes();
    if (__builtin_add_overflow(stats.paramBytes, b, &stats.paramBytes))
      stats.paramBytes = UINT64_MAX;
  }
  return stats;
}

double Statistics::bitsPerParam() const {
  return static_cast<double>(paramBytes) * 8.0 /
         static_cast<double>(totalParams);
}

double Statistics::paramSizeGB() const {
  return static_cast<double>(paramBytes) / static_cast<double>(1ull << 30);
}

llvm::Expected<Metadata> Statistics::metadata() const {
  if (totalParams == 0)
    return llvm::createStringError(
        "cannot compute BitsPerParam: the source checkpoint has no counted "
        "parameters");
  return Metadata{paramSize, paramBytes, bitsPerParam()};
}

/// Python "%.3f" % v; glibc's printf rounds the exact binary value half to
/// even like Python does.
static std::string format3(double v) {
  if (std::isnan(v))
    return "nan";
  if (std::isinf(v))
    return v > 0 ? "inf" : "-inf";
  char buf[400];
  std::snprintf(buf, sizeof(buf), "%.3f", v);
  return buf;
}

std::array<std::string, 3> formatStatisticsLines(const Statistics &stats,
                                                 bool color) {
  auto green = [&](const char *text) {
    return color ? std::string("\033[92m") + text + "\033[0m"
                 : std::string(text);
  };
  return {green("Parameter size") +
              " after quantization: " + format3(stats.paramSizeGB()) + " GB",
          green("Total parameters") + ": " + formatThousands(stats.totalParams),
          green("Bits per parameter") + ": " + format3(stats.bitsPerParam())};
}

std::string renderStatisticsJson(const Statistics &stats) {
  return "{\"ParamSize\": " + std::to_string(stats.paramSize) +
         ", \"ParamBytes\": " + std::to_string(stats.paramBytes) +
         ", \"TotalParams\": " + std::to_string(stats.totalParams) +
         ", \"BitsPerParam\": " + pythonFloatRepr(stats.bitsPerParam()) +
         ", \"ParamSizeGB\": " + pythonFloatRepr(stats.paramSizeGB()) + "}";
}

} // namespace qopt::tensorcache
