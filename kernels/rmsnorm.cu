// RMSNorm: out[i] = x[i] / sqrt(mean(x[i]^2) + eps) * gain, fp32 (reference: ScalarOps.rmsNorm).
// Threads: one block of 256 threads per row; thread t handles columns t, t + 256, ...; the sum of
// squares is a fixed-order block reduction (common.cuh), so a row's result never depends on n.
// The inverse root is taken in double as on the CPU; the products use _rn intrinsics, left to
// right, as Java evaluates x * inverseRms * gain.
// Shared memory: 32 floats, the per-warp partial sums.
#include "common.cuh"

extern "C" __global__ void __launch_bounds__(256) rmsnorm_f32(
    const float* __restrict__ x,     // [n][d]
    const float* __restrict__ gain,  // [d]
    float* __restrict__ out,         // [n][d]
    int n, int d, float eps) {
  pdl_begin();
  __shared__ float scratch[32];
  int i = blockIdx.x;
  if (i >= n) return;
  const float* row = x + (size_t)i * d;
  float sum = 0.f;
  for (int j = threadIdx.x; j < d; j += blockDim.x) sum = __fmaf_rn(row[j], row[j], sum);
  float inv = inverse_rms(block_sum(sum, scratch), d, eps);
  for (int j = threadIdx.x; j < d; j += blockDim.x) {
    out[(size_t)i * d + j] = __fmul_rn(__fmul_rn(row[j], inv), gain[j]);
  }
}
