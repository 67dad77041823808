# CMake toolchain file: cross-compile for 64-bit Arm Linux with Debian's
# g++-aarch64-linux-gnu. Used by test/arm (the numerics and their unit tests
# on NEON/SVE under qemu-aarch64); see docs/simd.md.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
# Libraries and headers of the target come from the cross sysroot and from
# Debian's arm64 multiarch packages (libhwy-dev:arm64, libgtest-dev:arm64).
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
