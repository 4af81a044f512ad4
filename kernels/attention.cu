// Causal grouped-query attention over a bf16 KV cache, fp32 queries and outputs, fp32 softmax and
// accumulation (reference: ScalarOps.attention on bf16-rounded keys and values). Query head h reads
// KV head h / (heads / kvHeads); row i attends over positions 0..positions[i] of cache slot
// slots[i] (the cache already holds this pass's keys, so a block is causal inside itself).
// The arithmetic of one row is defined once in attention.cuh; both kernels follow it exactly, so
// they agree bitwise.
//
// attention_bf16_block (primary; prefill and verification blocks of any length):
//   Grid (ceil(n / rowsPerBlock), kvHeads); 4 warps. A block takes rowsPerBlock consecutive rows
//   (rowsPerBlock = 16 / group, so rows x group <= 16 (row, head) pairs) and one KV head; rows of
//   different sequences inside one block are processed one sequence (run of equal slots) after the
//   other. For a run, the K/V tiles of its slot stream through shared memory once and serve every
//   pair; warp w carries pairs w, w + 4, w + 8, w + 12 (chunk state and total in registers); at each
//   chunk boundary a pair merges its chunk state into its total (if its position reached the chunk).
//   Shared memory: Q of the run's pairs, one K tile (padded rows), one V tile (attn_shared_floats).
//
// attention_bf16_decode_d64 / _d128 (split along the KV; decode steps and verification blocks of up
// to 64 rows; head dimensions a multiple of 8, up to 64 / 128):
//   Grid (kvHeads, maxChunks = ceil(capacity / 256), n); 8 warps. Block (h, c, i) computes the
//   chunk-c state of row i for the query heads of KV head h; blocks whose chunk starts after the
//   row's position exit at once (the grid is sized by the capacity, so a captured graph serves every
//   position). The tiles of the chunk are computed in parallel: with 8 tiles warp w takes tile w;
//   with fewer (short contexts) each tile's heads are spread over 8 / tiles warps. All global loads
//   are issued at once: lane t holds key t of its warp's tile and the value pairs it owns (dimensions
//   64 r + 2 lane, + 1) for every key of the tile, in registers. Heads of the group in passes of
//   ATT_DECODE_HEADS: (1) each warp scores its tile for its heads, scores and tile maxima to shared
//   memory; (2) each warp takes the running max over tiles 0..T, computes p and the tile sums L_T, S_T
//   into shared memory; (3) thread (head, dimension) folds the tiles in order. A row of one chunk is
//   written directly; otherwise each block stores its chunk state in partial, and the last of the
//   row's chunk blocks to finish (an atomic ticket per (row, KV head), reset by that block) merges the
//   states in chunk order, thread per (head, dimension), and writes the output.
//   Static shared memory: Q [16][DIMS], scores [8][4][32], tile sums [8][4][DIMS] and maxima
//   (29 KB for _d128).
#include "attention.cuh"

extern "C" __global__ void __launch_bounds__(ATT_WARPS * 32) attention_bf16_block(
    const float* __restrict__ q,         // [n][heads * headDim]
    const uint16_t* __restrict__ keys,   // [slots][capacity][kvHeads * headDim] bf16, this layer
    const uint16_t* __restrict__ values, // [slots][capacity][kvHeads * headDim] bf16, this layer
    const int* __restrict__ positions,   // [n]
    const int* __restrict__ slots,       // [n]
    float* __restrict__ out,             // [n][heads * headDim]
    int n, int heads, int kvHeads, int headDim, int capacity, int rowsPerBlock, float scale) {
  pdl_begin();
  extern __shared__ float smem[];
  float* Q = smem;                              // [ATT_PAIRS][headDim]
  float* K = Q + ATT_PAIRS * headDim;           // [ATT_TILE][headDim + 1]
  float* V = K + ATT_TILE * (headDim + 1);      // [ATT_TILE][headDim]
  int group = heads / kvHeads, kvDim = kvHeads * headDim, width = heads * headDim;
  int kvHead = blockIdx.y;
  int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  int rowBegin = blockIdx.x * rowsPerBlock, rowEnd = min(n, rowBegin + rowsPerBlock);

  for (int r0 = rowBegin; r0 < rowEnd;) {
    int slot = slots[r0];
    int r1 = r0 + 1;
    while (r1 < rowEnd && slots[r1] == slot) r1++;
    int pairs = (r1 - r0) * group;
    int maxPosition = 0;
    for (int r = r0; r < r1; r++) maxPosition = max(maxPosition, positions[r]);
    maxPosition = min(maxPosition, capacity - 1);

    __syncthreads();  // the previous run's readers of Q are done
    for (int idx = threadIdx.x; idx < pairs * headDim; idx += blockDim.x) {
      int pair = idx / headDim, j = idx - pair * headDim;
      int row = r0 + pair / group, head = kvHead * group + pair % group;
      Q[idx] = q[(size_t)row * width + (size_t)head * headDim + j];
    }
    int position[ATT_PAIRS_PER_WARP];
    AttnState chunk[ATT_PAIRS_PER_WARP], total[ATT_PAIRS_PER_WARP];
#pragma unroll
    for (int i = 0; i < ATT_PAIRS_PER_WARP; i++) {
      int pair = warp + ATT_WARPS * i;
      position[i] = pair < pairs ? min(positions[r0 + pair / group], capacity - 1) : -1;
      attn_reset(chunk[i]);
      attn_reset(total[i]);
    }
    size_t slotBase = (size_t)slot * capacity * kvDim + (size_t)kvHead * headDim;
    for (int tileStart = 0; tileStart <= maxPosition; tileStart += ATT_TILE) {
      int count = min(ATT_TILE, maxPosition + 1 - tileStart);
      __syncthreads();  // readers of the previous tile are done (and Q is written)
      attn_load_tile(K, V, keys, values, slotBase + (size_t)tileStart * kvDim, count, kvDim, headDim);
      __syncthreads();
#pragma unroll
      for (int i = 0; i < ATT_PAIRS_PER_WARP; i++) {
        if (position[i] >= tileStart) {
          int valid = min(ATT_TILE, position[i] - tileStart + 1);
          attn_tile_update(chunk[i], Q + (warp + ATT_WARPS * i) * headDim, K, V, valid, headDim, scale, lane);
        }
      }
      bool chunkEnds = (tileStart + ATT_TILE) % ATT_CHUNK == 0 || tileStart + ATT_TILE > maxPosition;
      if (chunkEnds) {
        int chunkStart = tileStart / ATT_CHUNK * ATT_CHUNK;
#pragma unroll
        for (int i = 0; i < ATT_PAIRS_PER_WARP; i++) {
          if (position[i] >= chunkStart) attn_merge(total[i], chunk[i]);
          attn_reset(chunk[i]);
        }
      }
    }
#pragma unroll
    for (int i = 0; i < ATT_PAIRS_PER_WARP; i++) {
      int pair = warp + ATT_WARPS * i;
      if (pair < pairs) {
        int row = r0 + pair / group, head = kvHead * group + pair % group;
        float* o = out + (size_t)row * width + (size_t)head * headDim;
#pragma unroll
        for (int r = 0; r < ATT_DIMS_PER_LANE; r++) {
          int j = lane + 32 * r;
          if (j < headDim) o[j] = __fdiv_rn(total[i].acc[r], total[i].l);
        }
      }
    }
    r0 = r1;
  }
}

// The split-KV kernel's body for head dimensions up to 64 * WORDS (headDim a multiple of 8).
template <int WORDS>
__device__ __forceinline__ void attention_decode(
    const float* __restrict__ q, const uint16_t* __restrict__ keys, const uint16_t* __restrict__ values,
    const int* __restrict__ positions, const int* __restrict__ slots, float* __restrict__ partial,
    int* __restrict__ tickets, float* __restrict__ out, int n, int heads, int kvHeads, int headDim, int capacity,
    int maxChunks, float scale) {
  constexpr int DIMS = 64 * WORDS;  // most head dimensions this instance serves
  constexpr int KEY_VECTORS = DIMS / 8;
  __shared__ float Q[ATT_PAIRS * DIMS];                                        // [group][headDim]
  __shared__ float tileScore[ATT_DECODE_WARPS][ATT_DECODE_HEADS][ATT_TILE];    // s_t, then p_t
  __shared__ float tileMax[ATT_DECODE_WARPS][ATT_DECODE_HEADS];                // max_t s_t
  __shared__ float tileM[ATT_DECODE_WARPS][ATT_DECODE_HEADS];                  // running max m_T
  __shared__ float tileL[ATT_DECODE_WARPS][ATT_DECODE_HEADS];                  // L_T
  __shared__ float tileS[ATT_DECODE_WARPS * ATT_DECODE_HEADS * DIMS];          // S_T: [tile][head][headDim]
  __shared__ int lastChunk;
  pdl_begin();
  int group = heads / kvHeads, kvDim = kvHeads * headDim, width = heads * headDim;
  int kvHead = blockIdx.x, chunkIndex = blockIdx.y, row = blockIdx.z;
  if (row >= n) return;
  int position = min(positions[row], capacity - 1);
  int chunkStart = chunkIndex * ATT_CHUNK;
  if (chunkStart > position) return;  // uniform over the block
  int chunkEnd = min(chunkStart + ATT_CHUNK, position + 1);
  int chunks = position / ATT_CHUNK + 1;
  int tiles = (chunkEnd - chunkStart + ATT_TILE - 1) / ATT_TILE;
  int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  // A chunk of few tiles spreads each tile's heads over several warps: warp w takes tile
  // w / warpsPerTile and heads w % warpsPerTile, + warpsPerTile, ... of each pass (warp-uniform).
  int warpsPerTile = ATT_DECODE_WARPS / tiles;
  int tile = warp / warpsPerTile, firstHead = warp % warpsPerTile;
  int tileStart = chunkStart + tile * ATT_TILE;
  int valid = tile < tiles ? min(ATT_TILE, chunkEnd - tileStart) : 0;  // keys of this warp's tile
  size_t tileBase = (size_t)slots[row] * capacity * kvDim + (size_t)tileStart * kvDim + (size_t)kvHead * headDim;

  // Every global load of the block at once: lane t's key row, the value pairs this lane owns
  // (dimensions 64 r + 2 lane and + 1) for every key of the tile, and the group's queries.
  uint4 key[KEY_VECTORS];
#pragma unroll
  for (int c = 0; c < KEY_VECTORS; c++) {
    key[c] = make_uint4(0u, 0u, 0u, 0u);
    if (lane < valid && 8 * c < headDim)
      key[c] = __ldg(reinterpret_cast<const uint4*>(keys + tileBase + (size_t)lane * kvDim) + c);
  }
  uint32_t value[ATT_TILE][WORDS];
#pragma unroll
  for (int t = 0; t < ATT_TILE; t++) {
#pragma unroll
    for (int r = 0; r < WORDS; r++) {
      int j = 64 * r + 2 * lane;
      value[t][r] = t < valid && j < headDim
                        ? __ldg(reinterpret_cast<const uint32_t*>(values + tileBase + (size_t)t * kvDim + j))
                        : 0u;
    }
  }
  for (int idx = threadIdx.x; idx < group * headDim; idx += blockDim.x) {
    int pair = idx / headDim, j = idx - pair * headDim;
    Q[idx] = q[(size_t)row * width + (size_t)(kvHead * group + pair) * headDim + j];
  }
  __syncthreads();

  for (int h0 = 0; h0 < group; h0 += ATT_DECODE_HEADS) {
    int passHeads = min(ATT_DECODE_HEADS, group - h0);
    // 1. Scores of this warp's tile (lane t: key t) for its heads, the tile maxima.
    if (valid > 0) {
#pragma unroll 1
      for (int g = firstHead; g < passHeads; g += warpsPerTile) {
        const float* qh = Q + (h0 + g) * headDim;
        float dot[4] = {0.f, 0.f, 0.f, 0.f};
#pragma unroll
        for (int c = 0; c < KEY_VECTORS; c++) {
          if (8 * c < headDim) {
            float kf[8];
            unpack_bf16x8(key[c], kf);
#pragma unroll
            for (int e = 0; e < 8; e++) dot[e & 3] = __fmaf_rn(qh[8 * c + e], kf[e], dot[e & 3]);
          }
        }
        float score = lane < valid ? __fmul_rn(attn_dot_total(dot), scale) : -INFINITY;
        tileScore[tile][g][lane] = score;
        float m = warp_max(score);
        if (lane == 0) tileMax[tile][g] = m;
      }
    }
    __syncthreads();
    // 2. The running max m_T over tiles 0..T, p, the tile sums L_T and S_T.
    if (valid > 0) {
#pragma unroll 1
      for (int g = firstHead; g < passHeads; g += warpsPerTile) {
        float m = tileMax[0][g];
        for (int t = 1; t <= tile; t++) m = fmaxf(m, tileMax[t][g]);
        float p = lane < valid ? expf(__fsub_rn(tileScore[tile][g][lane], m)) : 0.f;
        float l = warp_sum(p);
        if (lane == 0) {
          tileM[tile][g] = m;
          tileL[tile][g] = l;
        }
        tileScore[tile][g][lane] = p;
        __syncwarp();
        float acc[WORDS][2];
#pragma unroll
        for (int r = 0; r < WORDS; r++) acc[r][0] = acc[r][1] = 0.f;
#pragma unroll
        for (int t = 0; t < ATT_TILE; t++) {
          if (t < valid) {
            float pt = tileScore[tile][g][t];
#pragma unroll
            for (int r = 0; r < WORDS; r++) {
              acc[r][0] = __fmaf_rn(pt, __uint_as_float(value[t][r] << 16), acc[r][0]);
              acc[r][1] = __fmaf_rn(pt, __uint_as_float(value[t][r] & 0xffff0000u), acc[r][1]);
            }
          }
        }
#pragma unroll
        for (int r = 0; r < WORDS; r++) {
          int j = 64 * r + 2 * lane;
          if (j < headDim) {
            float* sum = tileS + (tile * ATT_DECODE_HEADS + g) * headDim + j;
            sum[0] = acc[r][0];
            sum[1] = acc[r][1];
          }
        }
      }
    }
    __syncthreads();
    // 3. Thread (head, dimension): fold the tiles in order into the chunk state.
    for (int idx = threadIdx.x; idx < passHeads * headDim; idx += blockDim.x) {
      int g = idx / headDim, j = idx - g * headDim;
      float m = -INFINITY, l = 0.f, acc = 0.f;
      for (int t = 0; t < tiles; t++) {
        float mT = tileM[t][g];
        float correction = expf(__fsub_rn(m, mT));  // 0 for the first tile
        l = attn_fold(l, correction, tileL[t][g]);
        acc = attn_fold(acc, correction, tileS[(t * ATT_DECODE_HEADS + g) * headDim + j]);
        m = mT;
      }
      int head = kvHead * group + h0 + g;
      if (chunks == 1) {  // the row's only chunk: merged into the empty total, as the block kernel does
        float totalM = -INFINITY, totalL = 0.f, total = 0.f;
        attn_merge_dim(totalM, totalL, total, m, l, acc);
        out[(size_t)row * width + (size_t)head * headDim + j] = __fdiv_rn(total, totalL);
      } else {
        float* state = partial + (((size_t)row * heads + head) * maxChunks + chunkIndex) * (2 + headDim);
        if (j == 0) {
          state[0] = m;
          state[1] = l;
        }
        state[2 + j] = acc;
      }
    }
    __syncthreads();  // the next pass rewrites the tile arrays
  }
  if (chunks == 1) return;

  // The last chunk block of (row, KV head) to finish merges every chunk state in chunk order.
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) {
    int* ticket = tickets + (size_t)row * kvHeads + kvHead;
    lastChunk = atomicAdd(ticket, 1) == chunks - 1;
    if (lastChunk) *ticket = 0;  // ready for the next launch (graph replays)
  }
  __syncthreads();
  if (!lastChunk) return;
  __threadfence();
  for (int idx = threadIdx.x; idx < group * headDim; idx += blockDim.x) {
    int g = idx / headDim, j = idx - g * headDim;
    int head = kvHead * group + g;
    const float* states = partial + ((size_t)row * heads + head) * maxChunks * (2 + headDim);
    float m = -INFINITY, l = 0.f, acc = 0.f;
    for (int c = 0; c < chunks; c++) {
      const float* state = states + (size_t)c * (2 + headDim);
      attn_merge_dim(m, l, acc, __ldcg(state), __ldcg(state + 1), __ldcg(state + 2 + j));  // L2: never a stale L1 line
    }
    out[(size_t)row * width + (size_t)head * headDim + j] = __fdiv_rn(acc, l);
  }
}

// q, out: [n][heads * headDim]; keys, values: [slots][capacity][kvHeads * headDim] bf16 of this layer;
// positions, slots: [n]; partial: [n][heads][maxChunks][2 + headDim] (m, l, acc); tickets: [n][kvHeads],
// zero between launches.
#define ATT_DECODE_ENTRY(NAME, WORDS, MIN_BLOCKS)                                                                \
  extern "C" __global__ void __launch_bounds__(ATT_DECODE_WARPS * 32, MIN_BLOCKS) NAME(                           \
      const float* __restrict__ q, const uint16_t* __restrict__ keys, const uint16_t* __restrict__ values,         \
      const int* __restrict__ positions, const int* __restrict__ slots, float* __restrict__ partial,               \
      int* __restrict__ tickets, float* __restrict__ out, int n, int heads, int kvHeads, int headDim, int capacity, \
      int maxChunks, float scale) {                                                                                 \
    attention_decode<WORDS>(q, keys, values, positions, slots, partial, tickets, out, n, heads, kvHeads, headDim,  \
                            capacity, maxChunks, scale);                                                            \
  }
ATT_DECODE_ENTRY(attention_bf16_decode_d64, 1, 1)
ATT_DECODE_ENTRY(attention_bf16_decode_d128, 2, 1)
