// Sampling with temperature (no top-k / top-p filter), following dev.tandem.sampling.Sampler:
//   z = logits * invTemperature; e_i = (float) exp(z_i - max z) (in double, as Math.exp);
//   p_i = e_i * (float) (1 / sum e) (the sum in double); u = Philox.uniform(seed, sequence,
//   position, STREAM_SAMPLE); the token is the first id, in id order, at which the running sum of p
//   (in double) exceeds u, or the last id with p > 0 when rounding leaves the sum short of u.
// The sums are taken in a different order than the CPU's sequential loop (per-thread segments,
// then the segment totals in order), so a draw can differ from the CPU only when u lies within
// about 1e-15 of a boundary of the running sum.
// Threads: one block of 1024 threads per row; thread t owns the contiguous ids
//   [t * segment, (t + 1) * segment), segment = ceil(vocab / 1024).
// Shared memory: 1024 doubles (segment sums), 32 floats (reduction scratch), the result.
#include "common.cuh"
#include "philox.cuh"

#define SAMPLE_THREADS 1024

extern "C" __global__ void __launch_bounds__(SAMPLE_THREADS) sample_f32(
    const float* __restrict__ logits,     // [n][vocab]
    const int* __restrict__ sequences,    // [n] sequence id of each row (the Philox counter's 3rd word)
    const int* __restrict__ positions,    // [n] position of the token each row picks
    int* __restrict__ out,                // [n] token ids
    int n, int vocab, float invTemperature, unsigned int seedLo, unsigned int seedHi) {
  pdl_begin();
  __shared__ double segmentSum[SAMPLE_THREADS];
  __shared__ float scratch[32];
  __shared__ int chosen, lastPositive;
  int row = blockIdx.x;
  if (row >= n) return;
  const float* z = logits + (size_t)row * vocab;
  int segment = (vocab + SAMPLE_THREADS - 1) / SAMPLE_THREADS;
  int begin = min(vocab, (int)threadIdx.x * segment), end = min(vocab, begin + segment);

  float localMax = -INFINITY;
  for (int i = begin; i < end; i++) localMax = fmaxf(localMax, __fmul_rn(z[i], invTemperature));
  float zMax = block_max(localMax, scratch);

  double localSum = 0;
  for (int i = begin; i < end; i++) {
    localSum += (double)(float)exp((double)__fsub_rn(__fmul_rn(z[i], invTemperature), zMax));
  }
  segmentSum[threadIdx.x] = localSum;
  if (threadIdx.x == 0) { chosen = 0x7fffffff; lastPositive = -1; }
  __syncthreads();
  if (threadIdx.x == 0) {
    double total = 0;
    for (int t = 0; t < SAMPLE_THREADS; t++) total += segmentSum[t];
    segmentSum[0] = total;  // slot 0 now carries the total; each thread keeps its own sum in a register
  }
  __syncthreads();
  float inverseSum = (float)(1.0 / segmentSum[0]);
  __syncthreads();

  // Segment sums of p, then exclusive prefix sums in id order (thread 0, sequentially).
  double mySum = 0;
  for (int i = begin; i < end; i++) {
    float e = (float)exp((double)__fsub_rn(__fmul_rn(z[i], invTemperature), zMax));
    mySum += (double)__fmul_rn(e, inverseSum);
  }
  segmentSum[threadIdx.x] = mySum;
  __syncthreads();
  if (threadIdx.x == 0) {
    double running = 0;
    for (int t = 0; t < SAMPLE_THREADS; t++) {
      double s = segmentSum[t];
      segmentSum[t] = running;
      running += s;
    }
  }
  __syncthreads();
  float u = philox_uniform(seedLo, seedHi, (uint32_t)sequences[row], (uint64_t)(int64_t)positions[row],
                           PHILOX_STREAM_SAMPLE);
  double running = segmentSum[threadIdx.x];
  int myLastPositive = -1;
  for (int i = begin; i < end; i++) {
    float e = (float)exp((double)__fsub_rn(__fmul_rn(z[i], invTemperature), zMax));
    float p = __fmul_rn(e, inverseSum);
    if (p > 0.f) {
      running += p;
      myLastPositive = i;
      if (running > u) {
        atomicMin(&chosen, i);
        break;
      }
    }
  }
  if (myLastPositive >= 0) atomicMax(&lastPositive, myLastPositive);
  __syncthreads();
  if (threadIdx.x == 0) out[row] = chosen != 0x7fffffff ? chosen : max(lastPositive, 0);
}
