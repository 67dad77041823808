//===- MLIRCAPI.cpp - libQuantOptMLIRCAPI.so ---------------------*- C++ -*-===//
//
// The library's contents are MLIR's C API (libMLIRCAPIIR.a, linked whole);
// see CMakeLists.txt. This file only gives CMake a source to build.
//
//===----------------------------------------------------------------------===//
