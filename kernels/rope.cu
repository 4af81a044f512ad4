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
  pdl_begin();
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

// rope_kv_store_f32: rope_f32 on a pass's queries (in place) and keys, then kv_store_bf16 of the
// rotated keys and the values into one layer's cache, in one launch (the decode step's three
// launches become one). Same arithmetic as the separate kernels, so the same bits.
// Threads: one thread per (row, pair): pairs [0, heads * half) rotate query pairs (i, i + half) of
// head h; pairs [heads * half, (heads + kvHeads) * half) rotate key pair (i, i + half) of KV head h
// and store it and the value pair to the cache as bf16. heads = 0 skips the queries (q unused).
// The k buffer itself is left unrotated. Shared memory: none.
extern "C" __global__ void __launch_bounds__(256) rope_kv_store_f32(
    float* __restrict__ q,                // [n][qWidth] (heads > 0), rotated in place
    const float* __restrict__ k,          // [n][kvDim]
    const float* __restrict__ v,          // [n][kvDim]
    const float* __restrict__ table,      // [tableRows][headDim]: cos | sin
    const int* __restrict__ positions,    // [n]
    const int* __restrict__ slots,        // [n]
    uint16_t* __restrict__ keys,          // [slotCount][capacity][kvDim] bf16, this layer
    uint16_t* __restrict__ values,        // [slotCount][capacity][kvDim] bf16, this layer
    int n, int heads, int kvHeads, int headDim, int qWidth, int tableRows, int capacity, int slotCount) {
  pdl_begin();
  int half = headDim >> 1;
  int pairsPerRow = (heads + kvHeads) * half;
  long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (idx >= (long long)n * pairsPerRow) return;
  int row = (int)(idx / pairsPerRow);
  int pair = (int)(idx - (long long)row * pairsPerRow);
  int position = positions[row];
  if (position < 0 || position >= tableRows || position >= capacity) return;  // the host checks
  bool query = pair < heads * half;
  int head = (query ? pair : pair - heads * half) / half;
  int i = (query ? pair : pair - heads * half) - head * half;
  float c = table[(size_t)position * headDim + i];
  float s = table[(size_t)position * headDim + half + i];
  if (query) {
    float* base = q + (size_t)row * qWidth + (size_t)head * headDim;
    float a = base[i], b = base[i + half];
    base[i] = __fsub_rn(__fmul_rn(a, c), __fmul_rn(b, s));
    base[i + half] = __fadd_rn(__fmul_rn(b, c), __fmul_rn(a, s));
    return;
  }
  int slot = slots[row];
  if (slot < 0 || slot >= slotCount) return;
  int kvDim = kvHeads * headDim;
  const float* kr = k + (size_t)row * kvDim + (size_t)head * headDim;
  const float* vr = v + (size_t)row * kvDim + (size_t)head * headDim;
  float a = kr[i], b = kr[i + half];
  size_t at = ((size_t)slot * capacity + position) * kvDim + (size_t)head * headDim;
  keys[at + i] = float_to_bf16_bits(__fsub_rn(__fmul_rn(a, c), __fmul_rn(b, s)));
  keys[at + i + half] = float_to_bf16_bits(__fadd_rn(__fmul_rn(b, c), __fmul_rn(a, s)));
  values[at + i] = float_to_bf16_bits(vr[i]);
  values[at + i + half] = float_to_bf16_bits(vr[i + half]);
}
