//===- Progress.cpp - One redrawn progress line on stderr ------*- C++ -*-===//

#include "dialects/Weights/Transforms/Progress.h"

#include "llvm/Support/Format.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdlib>
#include <sys/ioctl.h>
#include <unistd.h>

using namespace mlir::qopt::weights;

ProgressLine::ProgressLine(bool enabled)
    : enabled(enabled && llvm::sys::Process::StandardErrIsDisplayed()) {}

unsigned ProgressLine::terminalWidth() {
  struct winsize ws {};
  if (::ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
    return ws.ws_col;
  if (const char *c = std::getenv("COLUMNS")) {
    long v = std::strtol(c, nullptr, 10);
    if (v > 0 && v < 10000)
      return unsigned(v);
  }
  return 80;
}

std::string ProgressLine::fit(const std::string &text, unsigned width) {
  size_t max = width > 1 ? width - 1 : 0;
  return text.size() <= max ? text : text.substr(0, max);
}

std::string ProgressLine::bytes(double n) {
  std::string s;
  llvm::raw_string_ostream os(s);
  if (n >= 1e9)
    os << llvm::format("%.2f GB", n / 1e9);
  else if (n >= 1e6)
    os << llvm::format("%.1f MB", n / 1e6);
  else if (n >= 1e3)
    os << llvm::format("%.1f KB", n / 1e3);
  else
    os << llvm::format("%.0f B", n);
  return s;
}

std::string ProgressLine::rate(double bytesPerSecond) {
  return bytes(bytesPerSecond) + "/s";
}

void ProgressLine::draw(const std::string &text) {
  if (!enabled)
    return;
  std::lock_guard<std::mutex> lock(mutex);
  llvm::errs() << "\r" << fit(text, terminalWidth()) << "\033[K";
  llvm::errs().flush();
  drawn = true;
}

void ProgressLine::clear() {
  if (!enabled)
    return;
  std::lock_guard<std::mutex> lock(mutex);
  if (!drawn)
    return;
  llvm::errs() << "\r\033[K";
  llvm::errs().flush();
  drawn = false;
}
