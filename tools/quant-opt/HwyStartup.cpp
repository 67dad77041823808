//===- HwyStartup.cpp - Skip libhwy.so's timer calibration -------*- C++ -*-===//
//
// Debian's Highway 1.0.3 (libhwy.so.1, shipped only as a shared library)
// calls hwy::platform::TimerResolution() from a static initializer of its
// nanobenchmark: a loop of back-to-back timer reads that costs 3-4 ms of CPU
// in every process that loads the library, before main(). quant-opt uses
// Highway's runtime dispatch, never its nanobenchmark (hwy::Measure, the only
// reader of that value).
//
// libhwy.so calls the function through its PLT, so the definition below, in
// the executable, is the one the dynamic linker binds (an executable's
// definition comes first in the lookup scope, as with malloc): the
// initializer stores this value instead of measuring. docs/build.md,
// "Start-up".
//
//===----------------------------------------------------------------------===//

#include "hwy/nanobenchmark.h"

#include <cstdint>

uint64_t hwy::platform::TimerResolution() {
  // The value the measurement gives on a CPU with an invariant TSC is a few
  // dozen ticks; nothing in quant-opt reads it.
  return 32;
}
