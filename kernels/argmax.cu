// Argmax per row: out[i] = the lowest index of the largest value of x[i] (as Sampler.argmax).
// Threads: one block of 1024 threads per row; thread t scans columns t, t + 1024, ... keeping the
// first maximum it sees, then a tree over (value, index) pairs prefers the larger value and, on
// equal values, the lower index. NaN never wins (as on the CPU, unless column 0 is NaN there).
// Shared memory: 1024 (value, index) pairs.
#include "common.cuh"

extern "C" __global__ void __launch_bounds__(1024) argmax_f32(
    const float* __restrict__ x,  // [n][cols]
    int* __restrict__ out,        // [n]
    int n, int cols) {
  pdl_begin();
  __shared__ float bestValue[1024];
  __shared__ int bestIndex[1024];
  int i = blockIdx.x;
  if (i >= n) return;
  const float* row = x + (size_t)i * cols;
  float best = -INFINITY;
  int index = 0x7fffffff;
  for (int j = threadIdx.x; j < cols; j += blockDim.x) {
    float v = row[j];
    if (v > best || (index == 0x7fffffff && !(v != v))) { best = v; index = j; }
  }
  bestValue[threadIdx.x] = best;
  bestIndex[threadIdx.x] = index;
  __syncthreads();
  for (int stride = blockDim.x >> 1; stride > 0; stride >>= 1) {
    if (threadIdx.x < stride) {
      float ov = bestValue[threadIdx.x + stride];
      int oi = bestIndex[threadIdx.x + stride];
      float mv = bestValue[threadIdx.x];
      int mi = bestIndex[threadIdx.x];
      if (ov > mv || (ov == mv && oi < mi) || (mi == 0x7fffffff && oi != 0x7fffffff)) {
        bestValue[threadIdx.x] = ov;
        bestIndex[threadIdx.x] = oi;
      }
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) out[i] = bestIndex[0] == 0x7fffffff ? 0 : bestIndex[0];
}
