//===- Calibration.h - Calibration statistics files ------------*- C++ -*-===//
//
// Reads the statistics of the inputs of a model's linear layers that
// calibration-aware quantization uses (docs/calibration.md, "Reading
// statistics"): our STATS files (safetensors, written by `quant-opt
// calibrate`), and llama.cpp's importance matrices, in the GGUF format
// (`general.type = imatrix`, tensors `<name>.in_sum2` and `<name>.counts`)
// and the legacy `.dat` format. Only headers and indexes are read when a
// file is opened; the values are read on demand.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LOADERS_CALIBRATION_H
#define QOPT_LOADERS_CALIBRATION_H

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace qopt::loaders {

enum class CalibrationFormat {
  /// Our safetensors STATS file (`W.imatrix`, `W.count`, `W.hessian`).
  Stats,
  /// llama.cpp's GGUF importance matrix.
  GgufImatrix,
  /// llama.cpp's legacy binary importance matrix (`imatrix.dat`).
  LegacyImatrix,
};

/// "stats", "gguf-imatrix", "legacy-imatrix".
llvm::StringRef calibrationFormatName(CalibrationFormat format);

/// The statistics of one layer input, as the file names them.
struct CalibrationEntry {
  /// STATS: the MLC parameter name of the weight; imatrix files: the
  /// llama.cpp tensor name (`blk.0.attn_q.weight`).
  std::string name;
  /// Shape of the importance (mean of x^2 per input channel): [K] for a
  /// dense layer, [E, K] for stacked experts. The legacy format does not
  /// record the expert count: its entries are flat, [E * K].
  std::vector<int64_t> importanceShape;
  /// Shape of the Hessian (mean of x x^T): [K, K] or [E, K, K]; empty when
  /// the file has none (imatrix files never do).
  std::vector<int64_t> hessianShape;
};

/// An opened statistics file: its index, values read on demand. Safe to
/// read from several threads.
class CalibrationFile {
public:
  /// Opens `path`, recognizing the format from its first bytes, and
  /// validates the index. Every error starts with "<path>: " and names the
  /// entry at fault.
  static llvm::Expected<std::shared_ptr<const CalibrationFile>>
  open(llvm::StringRef path);

  CalibrationFormat getFormat() const { return format; }
  const std::string &getPath() const { return path; }
  /// Entries in file order.
  const std::vector<CalibrationEntry> &getEntries() const { return entries; }
  /// The entry called `name`, or nullptr.
  const CalibrationEntry *find(llvm::StringRef name) const;

  /// The importance of `name`: the mean of x^2 per input channel, row-major
  /// in importanceShape (imatrix files: in_sum2 / counts, or values / ncall
  /// for the legacy format; a matrix with no tokens gives all ones).
  llvm::Error readImportance(llvm::StringRef name,
                             std::vector<float> &out) const;
  /// The Hessian of `name`, row-major in hessianShape.
  llvm::Error readHessian(llvm::StringRef name, std::vector<float> &out) const;

  ~CalibrationFile();
  struct Impl;

private:
  CalibrationFile() = default;
  CalibrationFormat format = CalibrationFormat::Stats;
  std::string path;
  std::vector<CalibrationEntry> entries;
  std::unique_ptr<Impl> impl;
};

} // namespace qopt::loaders

#endif // QOPT_LOADERS_CALIBRATION_H
