// Rotary embedding in place, Hugging Face "rotate half" (reference: ScalarOps.rope): for each
// head and i < headDim/2, (a, b) = (x[i], x[i + half]) becomes (a cos - b sin, b cos + a sin), with
// cos/sin from the host-built table at the row's position. _rn intrinsics keep Java's rounding
// (no fused multiply-add), so the result is bitwise the CPU reference's.
// Threads: one thread per (row, head, i); 1-D grid of 256-thread blocks.
// Positions come from the device copy of BatchRows (graph replay reads the new positions).
// Shared memory: none.
#include "common.cuh"

extern "C" __global__ void __launch_bounds__(256) rope_f32(
    float* __restrict__ x,                // [n][width], width >= heads * headDim
    const float* __restrict__ table,      // [tableRows][headDim]: cos in [0, half), sin in [half, headDim)
    const int* __restrict__ positions,    // [n]
    int n, int heads, int headDim, int width, int tableRows) {
  int half = headDim >> 1;
  long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  long long total = (long long)n * heads * half;
  if (idx >= total) return;
  int i = (int)(idx % half);
  int h = (int)((idx / half) % heads);
  int row = (int)(idx / ((long long)half * heads));
  float* base = x + (size_t)row * width + (size_t)h * headDim;
  int position = positions[row];
  if (position < 0 || position >= tableRows) {  // the host checks; never read outside the table
    base[i] = base[i + half] = __int_as_float(0x7fc00000);
    return;
  }
  float c = table[(size_t)position * headDim + i];
  float s = table[(size_t)position * headDim + half + i];
  float a = base[i], b = base[i + half];
  base[i] = __fsub_rn(__fmul_rn(a, c), __fmul_rn(b, s));
  base[i + half] = __fadd_rn(__fmul_rn(b, c), __fmul_rn(a, s));
}
