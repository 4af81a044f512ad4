// SwiGLU: out = silu(gate) * up, silu(g) = g / (1 + exp(-g)) evaluated in double as on the CPU
// (reference: ScalarOps.swiglu), so results match the reference to the last bit or one ulp.
// Threads: one thread per element, 1-D grid of 256-thread blocks. Shared memory: none.
#include "common.cuh"

extern "C" __global__ void __launch_bounds__(256) swiglu_f32(
    const float* __restrict__ gate,  // [count] (= [n][f])
    const float* __restrict__ up,    // [count]
    float* __restrict__ out,         // [count]
    int count) {
  pdl_begin();
  int idx = blockIdx.x * blockDim.x + threadIdx.x;
  if (idx >= count) return;
  out[idx] = swiglu_value(gate[idx], up[idx]);
}
