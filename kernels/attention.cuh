// The arithmetic of one attention row, shared by the block (primary) and decode (secondary)
// kernels so that both give bitwise the same result for a row (block-mode verification and
// token-by-token decoding agree exactly).
//
// Definition of a row's attention for one query head h at position p (keys 0..p of its slot):
//   the keys are cut into chunks of ATT_CHUNK positions and each chunk into tiles of ATT_TILE.
//   In a chunk, tile T has scores s_t = (q . k_t) * scale (the dot product as attn_dot_total says), its
//   running max m_T = max(m_{T-1}, max_t s_t) (m_{-1} = -inf), p_t = exp(s_t - m_T), the tile sums
//   L_T = sum_t p_t (warp butterfly) and S_T[j] = sum_t p_t v_t[j] (from zero, keys in order); the
//   chunk state folds the tiles in order: c_T = exp(m_{T-1} - m_T), l = l c_T + L_T,
//   acc = acc c_T + S_T (attn_fold). The chunk states are merged in chunk order (attn_merge) into
//   the total, starting from the empty state; out = acc / l. Every operation is an explicit
//   round-to-nearest intrinsic, so no kernel can contract or reorder it differently. The block
//   kernel walks the tiles one after the other (attn_tile_update); the decode kernel computes the
//   tiles of a chunk in parallel (a tile's sums need only m_T) and folds them afterwards.
//
// Thread mapping inside attn_tile_update: one warp per (row, head) pair. Lane t scores key t of the
// tile (the dot product over headDim from shared memory); lane l owns output dimensions
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
#define ATT_DECODE_WARPS (ATT_CHUNK / ATT_TILE)  // decode kernel: a warp per tile of a chunk
#define ATT_DECODE_HEADS 4     // decode kernel: query heads per pass

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

// The dot product q . k as four partial sums over dimensions j = 0, 1, 2, 3 (mod 4), each in dimension
// order (four short dependency chains instead of one long one), added as (d0 + d1) + (d2 + d3).
__device__ __forceinline__ float attn_dot_total(const float* dot) {
  return __fadd_rn(__fadd_rn(dot[0], dot[1]), __fadd_rn(dot[2], dot[3]));
}

// One output dimension of a tile folded into a chunk's state: acc * correction + tileSum, rounded once.
// The same for l (tileSum = the tile's sum of p).
__device__ __forceinline__ float attn_fold(float acc, float correction, float tileSum) {
  return __fmaf_rn(acc, correction, tileSum);
}

// One dimension of attn_merge (below), for kernels where a thread owns one (head, dimension): the
// same operations, so both give the same bits. m, l: the total's; the part's are pm, pl, pacc.
__device__ __forceinline__ void attn_merge_dim(float& m, float& l, float& acc, float pm, float pl, float pacc) {
  float mNew = fmaxf(m, pm);
  float a = expf(__fsub_rn(m, mNew));
  float b = expf(__fsub_rn(pm, mNew));
  l = __fmaf_rn(l, a, __fmul_rn(pl, b));
  acc = __fmaf_rn(acc, a, __fmul_rn(pacc, b));
  m = mNew;
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
    float dot[4] = {0.f, 0.f, 0.f, 0.f};
    int j = 0;
    for (; j + 4 <= headDim; j += 4) {
#pragma unroll
      for (int e = 0; e < 4; e++) dot[e] = __fmaf_rn(q[j + e], key[j + e], dot[e]);
    }
    if (j < headDim) {  // headDim is even: two dimensions left
      dot[0] = __fmaf_rn(q[j], key[j], dot[0]);
      dot[1] = __fmaf_rn(q[j + 1], key[j + 1], dot[1]);
    }
    score = __fmul_rn(attn_dot_total(dot), scale);
  }
  float mNew = fmaxf(s.m, warp_max(score));
  float correction = expf(__fsub_rn(s.m, mNew));  // 0 for the first tile (s.m = -inf)
  float p = lane < valid ? expf(__fsub_rn(score, mNew)) : 0.f;
  s.l = __fmaf_rn(s.l, correction, warp_sum(p));
  // The tile's own sum of p_t * v_t (from zero, keys in order), then folded into the state: a tile's
  // sum depends only on the running max, so the decode kernel computes the tiles of a chunk in
  // parallel and folds them in order afterwards (attn_fold), with the same bits.
  float a[ATT_DIMS_PER_LANE];
#pragma unroll
  for (int r = 0; r < ATT_DIMS_PER_LANE; r++) a[r] = 0.f;
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
  for (int r = 0; r < ATT_DIMS_PER_LANE; r++) s.acc[r] = attn_fold(s.acc[r], correction, a[r]);
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
