// KV store: writes row i's key and value, rounded to bf16 (nearest, ties to even), into one
// layer's cache at (slots[i], positions[i]).
// Threads: grid (ceil(kvDim / 256), n), 256 threads; thread -> element j of row i.
// Slots and positions come from the device copy of BatchRows. Shared memory: none.
#include "common.cuh"

extern "C" __global__ void __launch_bounds__(256) kv_store_bf16(
    const float* __restrict__ k,        // [n][kvDim]
    const float* __restrict__ v,        // [n][kvDim]
    const int* __restrict__ positions,  // [n]
    const int* __restrict__ slots,      // [n]
    uint16_t* __restrict__ keys,        // [slots][capacity][kvDim] bf16, this layer
    uint16_t* __restrict__ values,      // [slots][capacity][kvDim] bf16, this layer
    int n, int kvDim, int capacity, int slotCount) {
  pdl_begin();
  int i = blockIdx.y;
  int j = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n || j >= kvDim) return;
  int position = positions[i], slot = slots[i];
  if (position < 0 || position >= capacity || slot < 0 || slot >= slotCount) return;  // host-checked
  size_t at = ((size_t)slot * capacity + position) * kvDim + j;
  keys[at] = float_to_bf16_bits(k[(size_t)i * kvDim + j]);
  values[at] = float_to_bf16_bits(v[(size_t)i * kvDim + j]);
}
