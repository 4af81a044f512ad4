// Argmax per row: out[i] = the lowest index of the largest value of x[i] (as Sampler.argmax);
// argmax_f32_drafts writes it into SPEED's draft table instead (see kernels/speed.cu).
// Threads: one block of 1024 threads per row; thread t scans columns t, t + 1024, ... keeping the
// first maximum it sees, then a tree over (value, index) pairs prefers the larger value and, on
// equal values, the lower index. NaN never wins (as on the CPU, unless column 0 is NaN there).
// Shared memory: 1024 (value, index) pairs.
#include "argmax.cuh"

extern "C" __global__ void __launch_bounds__(1024) argmax_f32(
    const float* __restrict__ x,  // [n][cols]
    int* __restrict__ out,        // [n]
    int n, int cols) {
  pdl_begin();
  int i = blockIdx.x;
  if (i >= n) return;
  int index = argmax_row(x + (size_t)i * cols, cols);
  if (threadIdx.x == 0) out[i] = index;
}

// Greedy drafting on the device: row i (one per sequence of the pass) goes, as a float, to column
// `column` of its slot's row of the draft table, where the next pass's draft rows read it.
extern "C" __global__ void __launch_bounds__(1024) argmax_f32_drafts(
    const float* __restrict__ x,             // [n][cols]: the last row of each sequence
    const int* __restrict__ sequenceSlots,   // [n] (device copy of BatchRows)
    float* __restrict__ table,               // [slots][stride] token ids as floats
    int n, int cols, int stride, int column) {
  pdl_begin();
  int i = blockIdx.x;
  if (i >= n) return;
  int index = argmax_row(x + (size_t)i * cols, cols);
  if (threadIdx.x == 0) table[(size_t)sequenceSlots[i] * stride + column] = (float)index;
}
