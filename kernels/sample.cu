// Token choice on the device, following dev.tandem.sampling.Sampler and dev.tandem.sampling.RejectionSampler
// (the pieces in sampling.cuh):
//   greedy (invTemperature 0): the argmax, lowest id on ties;
//   otherwise z = logits * invTemperature; e_i = (float) exp(z_i - max z) (in double, as Math.exp);
//   top-k keeps the k largest z (ties: lower id first); top-p keeps the smallest prefix of the kept
//   ids, by descending z, whose mass of e reaches topP times the kept mass; p_i = e_i * (float)
//   (1 / kept mass); u = Philox.uniform(seed, sequence, position, stream); the token is the first id,
//   in id order, at which the running sum of p (in double) exceeds u.
//
// sample_f32: a token per row, each row with its own parameters (rowParams).
// sample_f32_drafts: SPEED's sampled draft step: for the last row of each sequence, the drafter's
//   distribution q goes to the sequence's row of the q table and the token drawn from it (stream
//   STREAM_DRAFT, at the position after the row) to the draft table. Parameters per cache slot.
// rejection_f32: SPEED's sampled verification, one block per sequence whose rows hold the pending
//   token and then drafts 0..k-1: draft j is kept when u * q_j(d_j) < p_j(d_j) (stream ACCEPT at
//   the draft's position); at the first rejection the token is drawn from norm(max(0, p_j - q_j))
//   (stream RESIDUAL; p_j itself when that mass is 0); after k acceptances from p_k (stream SAMPLE);
//   draft 0 stands at the position after the sequence's first row. Parameters per cache slot.
//   out[i] = {accepted, token, draft 0, ..., draft k-1}.
// Threads: one block of 1024 threads per row (sequence); contiguous id segments per thread.
#include "argmax.cuh"
#include "sampling.cuh"

#define SAMPLE_PARAMS 8  // ints per row of rowParams

// rowParams (per row or sequence): sequence id, position, invTemperature bits (0: greedy), topK
// (0: all), topP bits, seed low, seed high, stream (sample_f32, sample_f32_drafts).
struct SampleRow {
  uint32_t sequence;
  int position;
  float invTemperature;
  int topK;
  float topP;
  uint32_t seedLo, seedHi, stream;
};

__device__ __forceinline__ SampleRow sample_row(const int* rowParams, int i) {
  const int* p = rowParams + (size_t)i * SAMPLE_PARAMS;
  SampleRow r;
  r.sequence = (uint32_t)p[0];
  r.position = p[1];
  r.invTemperature = __int_as_float(p[2]);
  r.topK = p[3];
  r.topP = __int_as_float(p[4]);
  r.seedLo = (uint32_t)p[5];
  r.seedHi = (uint32_t)p[6];
  r.stream = (uint32_t)p[7];
  return r;
}

__device__ __forceinline__ float sample_uniform(const SampleRow& r, int position, uint32_t stream) {
  return philox_uniform(r.seedLo, r.seedHi, r.sequence, (uint64_t)(int64_t)position, stream);
}

extern "C" __global__ void __launch_bounds__(SAMPLE_THREADS) sample_f32(
    const float* __restrict__ logits,     // [n][vocab]
    const int* __restrict__ rowParams,    // [n][8]
    int* __restrict__ out,                // [n] token ids
    int n, int vocab) {
  pdl_begin();
  __shared__ SampleShared sh;
  int row = blockIdx.x;
  if (row >= n) return;
  SampleRow r = sample_row(rowParams, row);
  const float* x = logits + (size_t)row * vocab;
  if (r.invTemperature == 0.f) {  // greedy
    int index = argmax_row(x, vocab);
    if (threadIdx.x == 0) out[row] = index;
    return;
  }
  SampleFilter f = sample_filter(x, vocab, r.invTemperature, r.topK, r.topP, sh);
  int token = sample_draw(vocab, sample_uniform(r, r.position, r.stream), [&](int i) { return sample_p(x, f, i); }, sh);
  if (threadIdx.x == 0) out[row] = token;
}

extern "C" __global__ void __launch_bounds__(SAMPLE_THREADS) sample_f32_drafts(
    const float* __restrict__ logits,         // [n][vocab]: the last row of each sequence
    const int* __restrict__ slotParams,       // [slots][8] (the position and stream words unused)
    const int* __restrict__ positions,        // [rows] (device copy of BatchRows)
    const int* __restrict__ sequenceStarts,   // [n + 1]
    const int* __restrict__ sequenceSlots,    // [n]
    float* __restrict__ table,                // [slots][stride] draft token ids as floats
    float* __restrict__ q,                    // [slots][stride][vocab] the drafter's distributions
    int n, int vocab, int stride, int column) {
  pdl_begin();
  __shared__ SampleShared sh;
  int seq = blockIdx.x;
  if (seq >= n) return;
  int slot = sequenceSlots[seq];
  SampleRow r = sample_row(slotParams, slot);
  int position = positions[sequenceStarts[seq + 1] - 1] + 1;  // the draft's: after the sequence's last row
  const float* x = logits + (size_t)seq * vocab;
  float* qRow = q + ((size_t)slot * stride + column) * vocab;
  SampleFilter f = sample_filter(x, vocab, r.invTemperature, r.topK, r.topP, sh);
  for (int i = threadIdx.x; i < vocab; i += blockDim.x) qRow[i] = sample_p(x, f, i);
  int token = sample_draw(vocab, sample_uniform(r, position, PHILOX_STREAM_DRAFT), [&](int i) { return sample_p(x, f, i); },
                          sh);
  if (threadIdx.x == 0) table[(size_t)slot * stride + column] = (float)token;
}

extern "C" __global__ void __launch_bounds__(SAMPLE_THREADS) rejection_f32(
    const float* __restrict__ logits,          // [rows][vocab]: the primary's logits of the pass
    const int* __restrict__ slotParams,        // [slots][8] (the position and stream words unused)
    const int* __restrict__ positions,         // [rows] (device copy of BatchRows)
    const int* __restrict__ sequenceStarts,    // [sequences + 1]
    const int* __restrict__ sequenceSlots,     // [sequences]
    const float* __restrict__ table,           // [slots][stride] draft token ids as floats
    const float* __restrict__ q,               // [slots][stride][vocab]
    int* __restrict__ out,                     // [sequences][2 + stride]
    int sequences, int vocab, int stride) {
  pdl_begin();
  __shared__ SampleShared sh;
  int seq = blockIdx.x;
  if (seq >= sequences) return;
  int start = sequenceStarts[seq], k = sequenceStarts[seq + 1] - start - 1, slot = sequenceSlots[seq];
  SampleRow r = sample_row(slotParams, slot);
  int firstPosition = positions[start] + 1;  // draft 0's: after the pending token
  const float* drafts = table + (size_t)slot * stride;
  int* o = out + (size_t)seq * (2 + stride);
  for (int j = threadIdx.x; j < k; j += blockDim.x) o[2 + j] = (int)drafts[j];
  int accepted = k, token = -1;
  for (int j = 0; j < k; j++) {
    const float* x = logits + (size_t)(start + j) * vocab;
    const float* qj = q + ((size_t)slot * stride + j) * vocab;
    SampleFilter f = sample_filter(x, vocab, r.invTemperature, r.topK, r.topP, sh);
    int d = (int)drafts[j];
    float u = sample_uniform(r, firstPosition + j, PHILOX_STREAM_ACCEPT);
    if (__fmul_rn(u, qj[d]) < sample_p(x, f, d)) continue;  // kept with probability min(1, p / q)
    int begin, end;
    sample_segment(vocab, begin, end);
    double localMass = 0;
    for (int i = begin; i < end; i++) localMass += (double)fmaxf(0.f, __fsub_rn(sample_p(x, f, i), qj[i]));
    double mass = sample_total(localMass, sh);
    float ur = sample_uniform(r, firstPosition + j, PHILOX_STREAM_RESIDUAL);
    if (mass <= 0) {  // p == q up to rounding: the rejection had probability ~0; p itself
      token = sample_draw(vocab, ur, [&](int i) { return sample_p(x, f, i); }, sh);
    } else {
      float inverse = (float)(1.0 / mass);
      token = sample_draw(vocab, ur, [&](int i) {
        return __fmul_rn(fmaxf(0.f, __fsub_rn(sample_p(x, f, i), qj[i])), inverse);
      }, sh);
    }
    accepted = j;
    break;
  }
  if (accepted == k) {  // every draft kept: the bonus token from p_k
    const float* x = logits + (size_t)(start + k) * vocab;
    SampleFilter f = sample_filter(x, vocab, r.invTemperature, r.topK, r.topP, sh);
    token = sample_draw(vocab, sample_uniform(r, firstPosition + k, PHILOX_STREAM_SAMPLE),
                        [&](int i) { return sample_p(x, f, i); }, sh);
  }
  if (threadIdx.x == 0) {
    o[0] = accepted;
    o[1] = token;
  }
}
