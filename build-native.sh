#!/usr/bin/env bash
# Compiles the CUDA kernels (kernels/*.cu) to PTX in native/, which is committed so that the jar
# works without nvcc: the driver JIT-compiles the PTX for the GPU at hand (compute_80: Ampere,
# Hopper and later; PTX from nvcc 13.0 needs driver 580 or newer). Run it after editing a kernel;
# a test fails while native/MANIFEST does not match the sources.
#   native/<name>.ptx      one module per kernels/<name>.cu
#   native/MANIFEST        sha256 of every source (.cu, .cuh) and of every PTX file, nvcc version
#   native/RESOURCES.txt   registers / shared memory / spills per kernel (ptxas -v of an sm_90 build)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$root"
nvcc=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
[[ -x $nvcc ]] || { echo "build-native: nvcc not found (set NVCC or put CUDA's bin on the PATH)" >&2; exit 1; }
# -fmad=false: no implicit multiply-add contraction anywhere; the kernels write every fma they
# want (__fmaf_rn), so inlining a shared device function into two kernels cannot round differently.
flags=(-arch=compute_80 -O3 -lineinfo -std=c++17 -fmad=false)
# native/sm90/: the same sources for compute_90 (Hopper and later), where pdl_wait and
# pdl_launch_dependents (kernels/common.cuh) become griddepcontrol instructions: the backend loads
# these on a GPU of compute capability 9.0 or newer and launches with programmatic dependent launch.
flags90=(-arch=compute_90 -O3 -lineinfo -std=c++17 -fmad=false)
mkdir -p native/sm90
rm -f native/*.ptx native/sm90/*.ptx
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
: > native/RESOURCES.txt
{
  echo "# ptxas resource usage per kernel: nvcc -cubin -arch=sm_90 -O3 -Xptxas -v (the PTX itself is compute_80)"
  "$nvcc" --version | tail -1
} >> native/RESOURCES.txt
for src in kernels/*.cu; do
  name=$(basename "$src" .cu)
  "$nvcc" -ptx "${flags[@]}" -o "native/$name.ptx" "$src"
  "$nvcc" -ptx "${flags90[@]}" -o "native/sm90/$name.ptx" "$src"
  "$nvcc" -cubin -arch=sm_90 -O3 -std=c++17 -fmad=false -Xptxas -v -o "$tmp/$name.cubin" "$src" 2> "$tmp/$name.log"
  {
    echo
    echo "## $src"
    grep -E "Compiling entry|Function properties|stack frame|Used [0-9]+ registers" "$tmp/$name.log" \
      | sed -e 's/^ptxas info *: //' -e "s/ for 'sm_90'//"
  } >> native/RESOURCES.txt
  echo "built native/$name.ptx" >&2
done
{
  echo "# sha256 of the kernel sources and of the PTX built from them (./build-native.sh)"
  echo "nvcc $("$nvcc" --version | sed -n 's/.*release \([0-9.]*\).*/\1/p') ${flags[*]} (sm90/: ${flags90[*]})"
  (cd kernels && sha256sum $(ls *.cu *.cuh | LC_ALL=C sort)) | sed 's/^\([0-9a-f]*\)  /source \1 kernels\//'
  (cd native && sha256sum $(ls *.ptx sm90/*.ptx | LC_ALL=C sort)) | sed 's/^\([0-9a-f]*\)  /ptx \1 native\//'
} > native/MANIFEST
cat native/MANIFEST >&2
