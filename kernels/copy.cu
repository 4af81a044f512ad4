// Row copy: dst[0..count) = src[0..count), fp32; the host passes both pointers already offset to
// the first row (dst + dstRow * cols, src + srcRow * cols) and count = rows * cols.
// Threads: one thread per element, 1-D grid of 256-thread blocks. Shared memory: none.
#include "common.cuh"

extern "C" __global__ void __launch_bounds__(256) copy_rows_f32(
    const float* __restrict__ src,  // [rows][cols] from the first copied row
    float* __restrict__ dst,        // [rows][cols] from the first destination row
    int count) {
  pdl_begin();
  int idx = blockIdx.x * blockDim.x + threadIdx.x;
  if (idx < count) dst[idx] = src[idx];
}
