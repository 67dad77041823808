//===- SimdTargets.h - Run a test body on every SIMD target -----*- C++ -*-===//
//
// forEachSimdTarget(body) runs body once per Highway target that the
// library was compiled for and this CPU can run (hwy::SetSupportedTargetsForTest
// forces the dispatch to that target, which is checked through
// simdTargetName()), then once with the SIMD kernels off (the scalar
// definitions, "portable"). It records and prints the targets that ran, so a
// run says which code it compared. QOPT_TEST_SIMD_TARGETS="NAME NAME..."
// (Highway target names) runs only those targets, plus the portable path
// (test/arm/run.sh runs SVE_256 and SVE2_128 this way at their emulated
// vector lengths without repeating the others).
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_TEST_UNITTESTS_NUMERICS_SIMDTARGETS_H
#define QOPT_TEST_UNITTESTS_NUMERICS_SIMDTARGETS_H

#include "qopt/Numerics/Simd.h"

#include <gtest/gtest.h>
#include <hwy/targets.h>

#include <cstdlib>
#include <iostream>
#include <sstream>
#include <string>

namespace qopt::numerics::testing {

/// Runs body() on every runnable compiled target, then on the portable
/// path; returns the names that ran ("AVX3 AVX2 SSE4 SSSE3 SCALAR portable").
/// Whether QOPT_TEST_SIMD_TARGETS (unset: every target) names \p target.
inline bool simdTargetSelected(const std::string &target) {
  const char *list = std::getenv("QOPT_TEST_SIMD_TARGETS");
  if (!list || !*list)
    return true;
  std::istringstream names(list);
  for (std::string name; names >> name;)
    if (name == target)
      return true;
  return false;
}

template <typename Body>
std::string forEachSimdTarget(Body body) {
  std::string ran;
  const int64_t runnable = simdCompiledTargetMask() & hwy::SupportedTargets();
  EXPECT_NE(runnable, 0) << "no SIMD target runs on this CPU";
  for (int64_t t = 1; t > 0; t <<= 1) {
    if (!(runnable & t))
      continue;
    const std::string name = hwy::TargetName(t);
    if (!simdTargetSelected(name))
      continue;
    hwy::SetSupportedTargetsForTest(t);
    setSimdKernelsEnabled(true);
    // The dispatch really goes to this target.
    EXPECT_EQ(simdTargetName(), name);
    {
      SCOPED_TRACE("SIMD target " + name);
      body();
    }
    ran += name + " ";
  }
  hwy::SetSupportedTargetsForTest(0);
  setSimdKernelsEnabled(false);
  EXPECT_EQ(simdTargetName(), "portable");
  {
    SCOPED_TRACE("portable (scalar definitions)");
    body();
  }
  setSimdKernelsEnabled(true);
  ran += "portable";
  ::testing::Test::RecordProperty("simd_targets", ran);
  const auto *info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::cout << "[ simd     ] " << (info ? info->name() : "?")
            << " ran targets: " << ran << std::endl;
  return ran;
}

} // namespace qopt::numerics::testing

#endif // QOPT_TEST_UNITTESTS_NUMERICS_SIMDTARGETS_H
