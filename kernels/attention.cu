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
// attention_bf16_decode (split along the KV; decode steps and verification blocks, any rows):
//   Grid (kvHeads, maxChunks = ceil(capacity / 256), n); 4 warps. Block (h, c, i) computes the
//   chunk-c state of row i for the group of query heads of KV head h; blocks whose chunk starts
//   after the row's position exit at once (the grid is sized by the capacity, so a captured graph
//   serves every position). A row of one chunk is written directly; otherwise each block stores its
//   chunk state in partial, and the last of the row's chunk blocks to finish (an atomic ticket per
//   (row, KV head), reset by that block) merges the states in chunk order and writes the output.
//   Shared memory: as the block kernel.
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

extern "C" __global__ void __launch_bounds__(ATT_WARPS * 32) attention_bf16_decode(
    const float* __restrict__ q,         // [n][heads * headDim]
    const uint16_t* __restrict__ keys,   // [slots][capacity][kvHeads * headDim] bf16, this layer
    const uint16_t* __restrict__ values, // [slots][capacity][kvHeads * headDim] bf16, this layer
    const int* __restrict__ positions,   // [n]
    const int* __restrict__ slots,       // [n]
    float* __restrict__ partial,         // [n][heads][maxChunks][2 + headDim]: m, l, acc
    int* __restrict__ tickets,           // [n][kvHeads], zero between launches
    float* __restrict__ out,             // [n][heads * headDim]
    int n, int heads, int kvHeads, int headDim, int capacity, int maxChunks, float scale) {
  pdl_begin();
  extern __shared__ float smem[];
  __shared__ int lastChunk;
  float* Q = smem;
  float* K = Q + ATT_PAIRS * headDim;
  float* V = K + ATT_TILE * (headDim + 1);
  int group = heads / kvHeads, kvDim = kvHeads * headDim, width = heads * headDim;
  int kvHead = blockIdx.x, chunkIndex = blockIdx.y, row = blockIdx.z;
  if (row >= n) return;
  int position = min(positions[row], capacity - 1);
  int chunkStart = chunkIndex * ATT_CHUNK;
  if (chunkStart > position) return;  // uniform over the block
  int chunkEnd = min(chunkStart + ATT_CHUNK, position + 1);
  int chunks = position / ATT_CHUNK + 1;
  int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  int slot = slots[row];

  for (int idx = threadIdx.x; idx < group * headDim; idx += blockDim.x) {
    int pair = idx / headDim, j = idx - pair * headDim;
    Q[idx] = q[(size_t)row * width + (size_t)(kvHead * group + pair) * headDim + j];
  }
  AttnState state[ATT_PAIRS_PER_WARP];
#pragma unroll
  for (int i = 0; i < ATT_PAIRS_PER_WARP; i++) attn_reset(state[i]);
  size_t slotBase = (size_t)slot * capacity * kvDim + (size_t)kvHead * headDim;
  for (int tileStart = chunkStart; tileStart < chunkEnd; tileStart += ATT_TILE) {
    int count = min(ATT_TILE, chunkEnd - tileStart);
    __syncthreads();
    attn_load_tile(K, V, keys, values, slotBase + (size_t)tileStart * kvDim, count, kvDim, headDim);
    __syncthreads();
#pragma unroll
    for (int i = 0; i < ATT_PAIRS_PER_WARP; i++) {
      int pair = warp + ATT_WARPS * i;
      if (pair < group) attn_tile_update(state[i], Q + pair * headDim, K, V, count, headDim, scale, lane);
    }
  }
  if (chunks == 1) {  // the whole row in this block: its state is the total
#pragma unroll
    for (int i = 0; i < ATT_PAIRS_PER_WARP; i++) {
      int pair = warp + ATT_WARPS * i;
      if (pair < group) attn_write(out + (size_t)row * width + (size_t)(kvHead * group + pair) * headDim, state[i],
                                   headDim, lane);
    }
    return;
  }
#pragma unroll
  for (int i = 0; i < ATT_PAIRS_PER_WARP; i++) {
    int pair = warp + ATT_WARPS * i;
    if (pair < group) {
      int head = kvHead * group + pair;
      float* p = partial + (((size_t)row * heads + head) * maxChunks + chunkIndex) * (2 + headDim);
      if (lane == 0) {
        p[0] = state[i].m;
        p[1] = state[i].l;
      }
#pragma unroll
      for (int r = 0; r < ATT_DIMS_PER_LANE; r++) {
        int j = lane + 32 * r;
        if (j < headDim) p[2 + j] = state[i].acc[r];
      }
    }
  }
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
#pragma unroll
  for (int i = 0; i < ATT_PAIRS_PER_WARP; i++) {
    int pair = warp + ATT_WARPS * i;
    if (pair < group) {
      int head = kvHead * group + pair;
      AttnState total;
      attn_merge_chunks(total, partial + ((size_t)row * heads + head) * maxChunks * (2 + headDim), chunks, headDim,
                        lane);
      attn_write(out + (size_t)row * width + (size_t)head * headDim, total, headDim, lane);
    }
  }
}
