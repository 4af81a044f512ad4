// The arithmetic of one attention row, shared by the block (primary) and decode (secondary)
// kernels so that both give bitwise the same result for a row (block-mode verification and
// token-by-token decoding agree exactly).
//
// Definition of a row's attention for one query head h at position p (keys 0..p of its slot):
//   the keys are cut into chunks of ATT_CHUNK positions and each chunk into tiles of ATT_TILE;
//   a chunk's online-softmax state (m, l, acc[headDim]) starts empty and is updated tile by tile
//   (attn_tile_update); the chunk states are merged in chunk order (attn_merge) into the total;
//   out = acc / l. Every operation is an explicit round-to-nearest intrinsic, so no kernel can
//   contract or reorder it differently.
//
// Thread mapping inside attn_tile_update: one warp per (row, head) pair. Lane t scores key t of the
// tile (a sequential dot product over headDim from shared memory); lane l owns output dimensions
// l, l + 32, l + 64, l + 96 of acc.
#pragma once
#include "common.cuh"

#define ATT_TILE 32            // keys per tile (one per lane when scoring)
#define ATT_CHUNK 256          // keys per chunk (the unit of split-KV parallelism and of merging)
#define ATT_WARPS 4            // warps per block
#define ATT_PAIRS_PER_WARP 4   // (row, head) pairs a warp carries
#define ATT_PAIRS (ATT_WARPS * ATT_PAIRS_PER_WARP)  // pairs per block
#define ATT_MAX_HEAD_DIM 128
#define ATT_DIMS_PER_LANE (ATT_MAX_HEAD_DIM / 32)

// Online-softmax state of one (row, head) over some keys: running max m, sum of exp(s - m) l,
// and sum of exp(s - m) * v per owned dimension.
struct AttnState {
  float m;
  float l;
  float acc[ATT_DIMS_PER_LANE];
};

__device__ __forceinline__ void attn_reset(AttnState& s) {
  s.m = -INFINITY;
  s.l = 0.f;
#pragma unroll
  for (int r = 0; r < ATT_DIMS_PER_LANE; r++) s.acc[r] = 0.f;
}

// Joins the state of later keys (part) into total. Both must be non-empty or total empty (m = -inf):
// merging into an empty total gives part exactly. This is the merge a later issue uses to join the
// tandem secondary's two KV sources.
__device__ __forceinline__ void attn_merge(AttnState& total, const AttnState& part) {
  float m = fmaxf(total.m, part.m);
  float a = expf(__fsub_rn(total.m, m));  // 0 when total is empty
  float b = expf(__fsub_rn(part.m, m));
  total.l = __fmaf_rn(total.l, a, __fmul_rn(part.l, b));
#pragma unroll
  for (int r = 0; r < ATT_DIMS_PER_LANE; r++) total.acc[r] = __fmaf_rn(total.acc[r], a, __fmul_rn(part.acc[r], b));
  total.m = m;
}

// One tile: keys [0, valid) of the tile in shared memory (valid >= 1) update state s of the pair
// whose query is q. K: [ATT_TILE][headDim + 1] (padded: lane t reads row t without bank
// conflicts), V: [ATT_TILE][headDim]. Called by all 32 lanes of a warp with the same arguments.
__device__ __forceinline__ void attn_tile_update(AttnState& s, const float* q, const float* K, const float* V,
                                                 int valid, int headDim, float scale, int lane) {
  float score = -INFINITY;
  if (lane < valid) {
    const float* key = K + lane * (headDim + 1);
    float dot = 0.f;
    for (int j = 0; j < headDim; j++) dot = __fmaf_rn(q[j], key[j], dot);
    score = __fmul_rn(dot, scale);
  }
  float mNew = fmaxf(s.m, warp_max(score));
  float correction = expf(__fsub_rn(s.m, mNew));  // 0 for the first tile (s.m = -inf)
  float p = lane < valid ? expf(__fsub_rn(score, mNew)) : 0.f;
  s.l = __fmaf_rn(s.l, correction, warp_sum(p));
  float a[ATT_DIMS_PER_LANE];
#pragma unroll
  for (int r = 0; r < ATT_DIMS_PER_LANE; r++) a[r] = __fmul_rn(s.acc[r], correction);
  for (int t = 0; t < valid; t++) {
    float pt = __shfl_sync(FULL_MASK, p, t);
    const float* value = V + t * headDim;
#pragma unroll
    for (int r = 0; r < ATT_DIMS_PER_LANE; r++) {
      int j = lane + 32 * r;
      if (j < headDim) a[r] = __fmaf_rn(pt, value[j], a[r]);
    }
  }
#pragma unroll
  for (int r = 0; r < ATT_DIMS_PER_LANE; r++) s.acc[r] = a[r];
  s.m = mNew;
}

// Loads keys [start, start + count) of one KV head of one slot into K and V (bf16 -> fp32), by all
// threads of the block. 16-byte loads when every key row of the head is 16-byte aligned.
__device__ __forceinline__ void attn_load_tile(float* K, float* V, const uint16_t* __restrict__ keys,
                                               const uint16_t* __restrict__ values, size_t rowBase,
                                               int count, int kvDim, int headDim) {
  // rowBase: element offset of (slot, start, this head's first dimension).
  if ((headDim & 7) == 0 && (kvDim & 7) == 0) {
    int perRow = headDim >> 3;
    for (int idx = threadIdx.x; idx < count * perRow; idx += blockDim.x) {
      int t = idx / perRow, j = (idx - t * perRow) << 3;
      size_t at = rowBase + (size_t)t * kvDim + j;
      float kf[8], vf[8];
      unpack_bf16x8(__ldg(reinterpret_cast<const uint4*>(keys + at)), kf);
      unpack_bf16x8(__ldg(reinterpret_cast<const uint4*>(values + at)), vf);
#pragma unroll
      for (int e = 0; e < 8; e++) {
        K[t * (headDim + 1) + j + e] = kf[e];
        V[t * headDim + j + e] = vf[e];
      }
    }
  } else {
    for (int idx = threadIdx.x; idx < count * headDim; idx += blockDim.x) {
      int t = idx / headDim, j = idx - t * headDim;
      size_t at = rowBase + (size_t)t * kvDim + j;
      K[t * (headDim + 1) + j] = bf16_bits_to_float(keys[at]);
      V[t * headDim + j] = bf16_bits_to_float(values[at]);
    }
  }
}

// Shared memory of both kernels, in floats: Q [ATT_PAIRS][headDim], K [ATT_TILE][headDim + 1],
// V [ATT_TILE][headDim]. 41,088 bytes at headDim 128 (under the 48 KB default limit).
__host__ __device__ __forceinline__ int attn_shared_floats(int headDim) {
  return ATT_PAIRS * headDim + ATT_TILE * (headDim + 1) + ATT_TILE * headDim;
}

// out[j] = acc[j] / l for the dimensions this lane owns.
__device__ __forceinline__ void attn_write(float* o, const AttnState& s, int headDim, int lane) {
#pragma unroll
  for (int r = 0; r < ATT_DIMS_PER_LANE; r++) {
    int j = lane + 32 * r;
    if (j < headDim) o[j] = __fdiv_rn(s.acc[r], s.l);
  }
}

// Merges the stored states of chunks [0, chunks) of one (row, head) in chunk order into total.
// states: [chunks][2 + headDim] (m, l, acc), written by other blocks of the same launch: read with
// __ldcg (L2, never a stale L1 line).
__device__ __forceinline__ void attn_merge_chunks(AttnState& total, const float* states, int chunks, int headDim,
                                                  int lane) {
  attn_reset(total);
  AttnState part;
  for (int c = 0; c < chunks; c++) {
    const float* p = states + (size_t)c * (2 + headDim);
    part.m = __ldcg(p);
    part.l = __ldcg(p + 1);
#pragma unroll
    for (int r = 0; r < ATT_DIMS_PER_LANE; r++) {
      int j = lane + 32 * r;
      part.acc[r] = j < headDim ? __ldcg(p + 2 + j) : 0.f;
    }
    attn_merge(total, part);
  }
}
