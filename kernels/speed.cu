// SPEED's greedy round on the device (SpeculativeGenerator): the drafter's tokens stay on the device
// from one draft step to the next and into the verification pass; the host reads one small table per
// round (greedy_accept_i32's output).
//
// The draft table: [slots][stride] floats holding token ids (exact below 2^24), column j of a slot's
// row = draft j of the round (written by argmax_f32_drafts in kernels/argmax.cu).
//
// tokens_from_drafts_i32: the device copy of a pass's rows gets, for each draft row (draftRefs[i] >= 0),
//   the token in its slot's row of the draft table; one thread per row; no shared memory.
// greedy_accept_i32: one thread per sequence of a verification pass whose sequence i holds a host
//   token and then k_i = length - 1 draft rows (drafts 0..k_i-1): a = the longest prefix of drafts
//   that equal the primary's argmax at the row before them, then the primary's token at row start + a;
//   out[i] = {a, token, draft 0, ..., draft k_i-1}. No shared memory.
#include "common.cuh"

extern "C" __global__ void tokens_from_drafts_i32(
    int* __restrict__ tokens,              // [n] device copy of BatchRows tokens (patched in place)
    const int* __restrict__ slots,         // [n]
    const int* __restrict__ draftRefs,     // [n]: draft column, or -1 for a host token
    const float* __restrict__ table,       // [slots][stride]
    int n, int stride) {
  pdl_begin();
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  int ref = draftRefs[i];
  if (ref >= 0) tokens[i] = (int)table[(size_t)slots[i] * stride + ref];
}

extern "C" __global__ void greedy_accept_i32(
    const int* __restrict__ ids,             // [rows]: the primary's argmax of every row of the pass
    const int* __restrict__ sequenceStarts,  // [sequences + 1]
    const int* __restrict__ sequenceSlots,   // [sequences]
    const float* __restrict__ table,         // [slots][stride]
    int* __restrict__ out,                   // [sequences][2 + stride]
    int sequences, int stride) {
  pdl_begin();
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= sequences) return;
  int start = sequenceStarts[i], k = sequenceStarts[i + 1] - start - 1;
  const float* drafts = table + (size_t)sequenceSlots[i] * stride;
  int* o = out + (size_t)i * (2 + stride);
  int a = 0;
  while (a < k && ids[start + a] == (int)drafts[a]) a++;
  o[0] = a;
  o[1] = ids[start + a];
  for (int j = 0; j < k; j++) o[2 + j] = (int)drafts[j];
}
