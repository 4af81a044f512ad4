// Residual add: x += delta, fp32 elementwise (reference: ScalarOps.add; bitwise equal).
// Threads: one thread per element, 1-D grid of 256-thread blocks. Shared memory: none.
#include "common.cuh"

extern "C" __global__ void __launch_bounds__(256) add_f32(
    float* __restrict__ x,            // [count] (= [n][d]), updated in place
    const float* __restrict__ delta,  // [count]
    int count) {
  int idx = blockIdx.x * blockDim.x + threadIdx.x;
  if (idx < count) x[idx] = __fadd_rn(x[idx], delta[idx]);
}
