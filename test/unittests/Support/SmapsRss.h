//===- SmapsRss.h - Resident bytes of one mapping, from smaps ---*- C++ -*-===//
//
// Part of quant-opt. For tests that check which pages a mapping holds.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_TEST_UNITTESTS_SUPPORT_SMAPSRSS_H
#define QOPT_TEST_UNITTESTS_SUPPORT_SMAPSRSS_H

#include <cstdio>
#include <fstream>
#include <string>

namespace qopt::test {

/// The Rss (KiB) that /proc/self/smaps gives the mapping starting at `p`,
/// or -1 when no mapping starts there.
inline long smapsRssKiB(const void *p) {
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  char head[32];
  std::snprintf(head, sizeof(head), "%lx-", reinterpret_cast<unsigned long>(p));
  bool in = false;
  while (std::getline(smaps, line)) {
    if (line.rfind(head, 0) == 0) {
      in = true;
      continue;
    }
    if (in && line.rfind("Rss:", 0) == 0)
      return std::stol(line.substr(4));
  }
  return -1;
}

} // namespace qopt::test

#endif // QOPT_TEST_UNITTESTS_SUPPORT_SMAPSRSS_H
