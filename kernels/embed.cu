// Embedding gather: out[i][j] = table[tokens[i]][j], bf16 table to fp32 activations (exact).
// Threads: grid (ceil(d / 256), n), 256 threads; thread -> one element j of row i.
// The token ids come from the device copy of BatchRows, so a captured graph replays with new ids.
// Shared memory: none.
#include "common.cuh"

extern "C" __global__ void __launch_bounds__(256) embed_bf16(
    const uint16_t* __restrict__ table,  // [vocab][d] bf16
    const int* __restrict__ tokens,      // [n] token id of each row
    float* __restrict__ out,             // [n][d]
    int n, int d, int vocab) {
  pdl_begin();
  int i = blockIdx.y;
  int j = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n || j >= d) return;
  int token = tokens[i];
  // The host validates ids; an id outside the table still never reads outside it: NaN marks it.
  out[(size_t)i * d + j] = (token >= 0 && token < vocab) ? bf16_bits_to_float(table[(size_t)token * d + j])
                                                          : __int_as_float(0x7fc00000);
}
