//===- Progress.h - One redrawn progress line on stderr --------*- C++ -*-===//
//
// The conversion's progress: a single line on stderr (only when it is a
// terminal), redrawn in place with "\r" and cleared to the end of the line,
// cut to the terminal's width so that it never wraps and stacks.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_DIALECTS_WEIGHTS_TRANSFORMS_PROGRESS_H
#define QOPT_DIALECTS_WEIGHTS_TRANSFORMS_PROGRESS_H

#include <cstdint>
#include <mutex>
#include <string>

namespace mlir::qopt::weights {

class ProgressLine {
public:
  /// Draws nothing unless `enabled` and stderr is a terminal.
  explicit ProgressLine(bool enabled);
  ~ProgressLine() { clear(); }

  /// Replaces the line with `text` (cut to the width).
  void draw(const std::string &text);
  /// Erases the line, leaving the cursor at its start.
  void clear();
  bool isEnabled() const { return enabled; }

  /// Columns of the terminal on stderr (TIOCGWINSZ), else $COLUMNS, else 80.
  static unsigned terminalWidth();
  /// `text` cut to at most `width - 1` columns (the last column is left
  /// free: writing into it wraps on some terminals).
  static std::string fit(const std::string &text, unsigned width);
  /// "512 B", "6.6 MB", "2.20 GB" (decimal units).
  static std::string bytes(double n);
  /// "850.3 MB/s", "1.85 GB/s".
  static std::string rate(double bytesPerSecond);

private:
  bool enabled;
  bool drawn = false;
  std::mutex mutex;
};

} // namespace mlir::qopt::weights

#endif // QOPT_DIALECTS_WEIGHTS_TRANSFORMS_PROGRESS_H
