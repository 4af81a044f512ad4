// Residual add: x += delta, fp32 elementwise (reference: ScalarOps.add; bitwise equal).
// Threads: one thread per element, 1-D grid of 256-thread blocks. Shared memory: none.
#include "common.cuh"

extern "C" __global__ void __launch_bounds__(256) add_f32(
    float* __restrict__ x,            // [count] (= [n][d]), updated in place
    const float* __restrict__ delta,  // [count]
    int count) {
  pdl_begin();
  int idx = blockIdx.x * blockDim.x + threadIdx.x;
  if (idx < count) x[idx] = __fadd_rn(x[idx], delta[idx]);
}

// Bias add: x[i] += bias for each of the first n rows (Qwen2's q/k/v biases), fp32 elementwise
// (reference: ScalarOps.addBias; bitwise equal). Threads: one thread per element, 1-D grid of
// 256-thread blocks. Shared memory: none.
extern "C" __global__ void __launch_bounds__(256) add_bias_f32(
    float* __restrict__ x,            // [n][cols], updated in place
    const float* __restrict__ bias,   // [cols]
    int n, int cols) {
  pdl_begin();
  long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (idx < (long long)n * cols) x[idx] = __fadd_rn(x[idx], bias[idx % cols]);
}
