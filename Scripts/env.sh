# Sourced by Galen's scripts: installs the system libraries Galen links (if missing) and sets
# SWIFT_FLAGS for this CPU. Debian/Ubuntu; uses apt-get when a library is absent.
set -euo pipefail

galen_need_packages=()
pkg-config --exists openblas 2>/dev/null || galen_need_packages+=(libopenblas-dev)
pkg-config --exists zlib 2>/dev/null || galen_need_packages+=(zlib1g-dev)
test -f /usr/include/oneapi/dnnl/dnnl.h || galen_need_packages+=(libdnnl-dev)  # no .pc file on Debian
# Image codecs for DICOM's compressed transfer syntaxes (JPEG baseline, JPEG-LS, JPEG 2000).
pkg-config --exists libjpeg 2>/dev/null || galen_need_packages+=(libjpeg62-turbo-dev)
pkg-config --exists charls 2>/dev/null || galen_need_packages+=(libcharls-dev)
pkg-config --exists libopenjp2 2>/dev/null || galen_need_packages+=(libopenjp2-7-dev)
command -v pkg-config >/dev/null || galen_need_packages+=(pkg-config)
if [ ${#galen_need_packages[@]} -gt 0 ]; then
  echo "Installing ${galen_need_packages[*]} with apt-get…" >&2
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${galen_need_packages[@]}" >/dev/null
fi

# Swift targets baseline x86-64 (SSE2) unless told otherwise, which leaves the SIMD kernels
# scalar; on CPUs with AVX2 and FMA, compile for them (haswell = AVX2 + FMA + F16C). GALEN_FMA tells
# Galen's kernels that fused multiply-adds are instructions here (VectorMath.multiplyAdd): Swift
# has no way to ask the target CPU at compile time.
SWIFT_FLAGS=()
if grep -qw avx2 /proc/cpuinfo 2>/dev/null && grep -qw fma /proc/cpuinfo 2>/dev/null; then
  SWIFT_FLAGS=(-Xswiftc -target-cpu -Xswiftc haswell -Xswiftc -DGALEN_FMA)
fi

# OpenBLAS 0.3.21 (Debian 12) does not know CPUs newer than its release and falls back to its
# SSE3 "Prescott" kernels on them, a third of the speed. Where the CPU has AVX2 + FMA and the user
# has not chosen, pick the newest kernel set the CPU supports. (Galen warns at run time when it
# finds the fallback.)
if [ -z "${OPENBLAS_CORETYPE:-}" ] && [ ${#SWIFT_FLAGS[@]} -gt 0 ]; then
  if grep -qw avx512f /proc/cpuinfo && grep -qw avx512bw /proc/cpuinfo && grep -qw avx512vl /proc/cpuinfo; then
    export OPENBLAS_CORETYPE=SkylakeX
  else
    export OPENBLAS_CORETYPE=Haswell
  fi
fi
