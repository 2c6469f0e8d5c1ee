# CMake toolchain file: cross-compile olmoe.c for aarch64 Linux with Debian's
# gcc-aarch64-linux-gnu, against the arm64 builds of the dependencies that
# Debian multiarch installs (libcjson-dev:arm64 libpcre2-dev:arm64
# libutf8proc-dev:arm64, in /usr/lib/aarch64-linux-gnu), and run the test
# executables under qemu-aarch64. scripts/test-arm installs all of these.
#
#   cmake -S . -B build-arm -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(OLMOE_CROSS_TRIPLET aarch64-linux-gnu)
set(CMAKE_C_COMPILER ${OLMOE_CROSS_TRIPLET}-gcc)
# Library folders are searched as <prefix>/lib/aarch64-linux-gnu (multiarch).
set(CMAKE_LIBRARY_ARCHITECTURE ${OLMOE_CROSS_TRIPLET})

# Debian 12's aarch64 gcc 12.2 crashes (internal compiler error in
# vect_transform_reduction, tree-vect-loop.cc:7457) at -O3 on an fmax
# reduction into a double of float values, as in tests/test_reference_models.c:
#   double w = 0; for (...) w = fmax(w, fabs(l[v] - want[v]));
# The -O2 cost model ("very-cheap") still vectorizes but not this loop.
# (Only applied on a fresh configure: scripts/test-arm starts its build
# folders over when this file changes.)
set(CMAKE_C_FLAGS_INIT "-fvect-cost-model=very-cheap")

# Headers and libraries: the cross toolchain's own sysroot, and the multiarch
# folders under / (where the :arm64 -dev packages put their files). Programs
# (pkg-config, qemu) are the build machine's.
set(CMAKE_FIND_ROOT_PATH /usr/${OLMOE_CROSS_TRIPLET} /)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# pkg-config must read the arm64 .pc files only, never the amd64 ones in
# /usr/lib/x86_64-linux-gnu/pkgconfig (PKG_CONFIG_LIBDIR replaces the default
# search path; PKG_CONFIG_PATH would only prepend to it).
set(ENV{PKG_CONFIG_LIBDIR}
    "/usr/lib/${OLMOE_CROSS_TRIPLET}/pkgconfig:/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")

# Test executables run under user-mode QEMU. -L makes it take the aarch64
# dynamic loader from the cross toolchain's folder (libc6-arm64-cross);
# LD_LIBRARY_PATH makes that loader take libc from the same folder, since
# /etc/ld.so.cache would otherwise give it libc6:arm64's libc.so.6 from
# /usr/lib/aarch64-linux-gnu (another glibc build: the loader and libc must
# come from one build). Libraries only multiarch has (libcjson.so.1, ...) are
# still found in /usr/lib/aarch64-linux-gnu.
if(NOT DEFINED CMAKE_CROSSCOMPILING_EMULATOR)
  find_program(OLMOE_QEMU_AARCH64 qemu-aarch64)
  if(OLMOE_QEMU_AARCH64)
    set(CMAKE_CROSSCOMPILING_EMULATOR
        "${OLMOE_QEMU_AARCH64};-L;/usr/${OLMOE_CROSS_TRIPLET};-E;LD_LIBRARY_PATH=/usr/${OLMOE_CROSS_TRIPLET}/lib")
  endif()
endif()
