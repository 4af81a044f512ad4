// The argmax of one row by a whole block (argmax.cu, sample.cu): the lowest index of the largest
// value, as dev.tandem.sampling.Sampler.argmax.
#pragma once
#include "common.cuh"

// The lowest index of the largest value of row[0..cols) (0 when every value is NaN), by all 1024
// threads of the block; every thread gets it.
__device__ __forceinline__ int argmax_row(const float* __restrict__ row, int cols) {
  __shared__ float bestValue[1024];
  __shared__ int bestIndex[1024];
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
  return bestIndex[0] == 0x7fffffff ? 0 : bestIndex[0];
}

