// Token choice for rows of logits, each row with its own parameters, following
// dev.tandem.sampling.Sampler:
//   greedy (invTemperature 0): the argmax, lowest id on ties;
//   otherwise z = logits * invTemperature; e_i = (float) exp(z_i - max z) (in double, as Math.exp);
//   top-k keeps the k largest z (ties: lower id first); top-p keeps the smallest prefix of the kept
//   ids, by descending z, whose mass of e reaches topP times the kept mass; p_i = e_i * (float)
//   (1 / kept mass) (the mass in double); u = Philox.uniform(seed, sequence, position,
//   STREAM_SAMPLE); the token is the first kept id, in id order, at which the running sum of p (in
//   double) exceeds u, or the last kept id when rounding leaves the sum short of u.
//
// The filters as thresholds on a sort key: key_i = (z_i's order-preserving bits, ~i) as an unsigned
// 64-bit number, unique per id, larger for larger z and, on equal z, for the lower id (the CPU's sort
// order). The top-k threshold is the k-th largest key, found by a radix select over the key's eight
// bytes (a 256-bin count per byte, from the top). The top-p threshold is the largest key whose keys
// above and equal hold at least topP of the kept mass, found the same way with 256-bin masses. The
// masses of the top-p search are in fixed point (e * 2^40 as integers, exact and order-independent
// sums, so the choice is deterministic); the normalising mass and the draw's running sums are in
// double in a fixed order (per-thread segments, then segment totals in order). A draw can differ
// from the CPU's only where u lies within about 1e-12 of a boundary of the running sum, or where the
// top-p cut lies within about 1e-12 of the target mass.
//
// Threads: one block of 1024 threads per row; thread t owns the contiguous ids
//   [t * segment, (t + 1) * segment), segment = ceil(vocab / 1024).
// Shared memory: 1024 doubles (segment sums), 256 64-bit bins, 32 floats, a few scalars, and the
// argmax's 1024 (value, index) pairs (argmax.cuh).
#include "argmax.cuh"
#include "philox.cuh"

#define SAMPLE_THREADS 1024
#define SAMPLE_PARAMS 8          // ints per row of rowParams
#define SAMPLE_FIXED_ONE 1099511627776.0  // 2^40: e in [0, 1] as a fixed-point integer

// The CPU's sort key of (z, id) (Sampler.distribution), as an unsigned number with the same order.
__device__ __forceinline__ uint64_t sample_key(float z, int id) {
  int bits = __float_as_int(z);
  int sortable = bits ^ ((bits >> 31) & 0x7fffffff);
  return ((uint64_t)((uint32_t)sortable ^ 0x80000000u) << 32) | (uint32_t)(~id);
}

__device__ __forceinline__ float sample_e(float z, float zMax) {
  return (float)exp((double)__fsub_rn(z, zMax));
}

extern "C" __global__ void __launch_bounds__(SAMPLE_THREADS) sample_f32(
    const float* __restrict__ logits,     // [n][vocab]
    const int* __restrict__ rowParams,    // [n][8]: sequence, position, invTemperature bits (0: greedy),
                                          //   topK (0: all), topP bits, seed low, seed high, unused
    int* __restrict__ out,                // [n] token ids
    int n, int vocab) {
  pdl_begin();
  __shared__ double segmentSum[SAMPLE_THREADS];
  __shared__ unsigned long long bins[256];
  __shared__ float scratch[32];
  __shared__ unsigned long long decidedKey, decidedRest;
  __shared__ int chosen, lastKept;
  int row = blockIdx.x;
  if (row >= n) return;
  const int* params = rowParams + (size_t)row * SAMPLE_PARAMS;
  const float* x = logits + (size_t)row * vocab;
  float invTemperature = __int_as_float(params[2]);
  if (invTemperature == 0.f) {  // greedy
    int index = argmax_row(x, vocab);
    if (threadIdx.x == 0) out[row] = index;
    return;
  }
  int topK = params[3];
  float topP = __int_as_float(params[4]);
  int segment = (vocab + SAMPLE_THREADS - 1) / SAMPLE_THREADS;
  int begin = min(vocab, (int)threadIdx.x * segment), end = min(vocab, begin + segment);

  float localMax = -INFINITY;
  for (int i = begin; i < end; i++) localMax = fmaxf(localMax, __fmul_rn(x[i], invTemperature));
  float zMax = block_max(localMax, scratch);

  // Kept ids: key >= threshold (0 keeps every id).
  unsigned long long threshold = 0;
  if (topK > 0 && topK < vocab) {  // radix select of the topK-th largest key
    unsigned long long prefix = 0, rest = (unsigned long long)topK;
    for (int shift = 56; shift >= 0; shift -= 8) {
      if (threadIdx.x < 256) bins[threadIdx.x] = 0;
      __syncthreads();
      unsigned long long high = shift == 56 ? 0ull : ~0ull << (shift + 8);
      for (int i = begin; i < end; i++) {
        unsigned long long key = sample_key(__fmul_rn(x[i], invTemperature), i);
        if ((key & high) == (prefix & high)) atomicAdd(&bins[(key >> shift) & 255], 1ull);
      }
      __syncthreads();
      if (threadIdx.x == 0) {
        unsigned long long above = 0;
        for (int d = 255; d >= 0; d--) {
          if (above + bins[d] >= rest) {
            decidedKey = prefix | ((unsigned long long)d << shift);
            decidedRest = rest - above;
            break;
          }
          above += bins[d];
        }
      }
      __syncthreads();
      prefix = decidedKey;
      rest = decidedRest;
    }
    threshold = prefix;
  }
  if (topP < 1.f) {  // the largest key whose kept keys above and equal hold topP of the kept mass
    unsigned long long localMass = 0;
    for (int i = begin; i < end; i++) {
      float z = __fmul_rn(x[i], invTemperature);
      if (sample_key(z, i) >= threshold) localMass += (unsigned long long)((double)sample_e(z, zMax) * SAMPLE_FIXED_ONE);
    }
    if (threadIdx.x < 256) bins[threadIdx.x] = 0;
    __syncthreads();
    atomicAdd(&bins[0], localMass);
    __syncthreads();
    unsigned long long keptMass = bins[0];
    __syncthreads();
    unsigned long long target = (unsigned long long)ceil((double)topP * (double)keptMass);
    unsigned long long prefix = 0, need = target;
    for (int shift = 56; shift >= 0; shift -= 8) {
      if (threadIdx.x < 256) bins[threadIdx.x] = 0;
      __syncthreads();
      unsigned long long high = shift == 56 ? 0ull : ~0ull << (shift + 8);
      for (int i = begin; i < end; i++) {
        float z = __fmul_rn(x[i], invTemperature);
        unsigned long long key = sample_key(z, i);
        if (key >= threshold && (key & high) == (prefix & high)) {
          atomicAdd(&bins[(key >> shift) & 255], (unsigned long long)((double)sample_e(z, zMax) * SAMPLE_FIXED_ONE));
        }
      }
      __syncthreads();
      if (threadIdx.x == 0) {
        unsigned long long above = 0;
        int d = 255;
        for (; d > 0; d--) {
          if (above + bins[d] >= need) break;
          above += bins[d];
        }
        decidedKey = prefix | ((unsigned long long)d << shift);
        decidedRest = need > above ? need - above : 0;
      }
      __syncthreads();
      prefix = decidedKey;
      need = decidedRest;
    }
    threshold = max(threshold, prefix);
  }

  // The kept mass (double, fixed order), then the draw in id order.
  double localSum = 0;
  for (int i = begin; i < end; i++) {
    float z = __fmul_rn(x[i], invTemperature);
    if (sample_key(z, i) >= threshold) localSum += (double)sample_e(z, zMax);
  }
  segmentSum[threadIdx.x] = localSum;
  if (threadIdx.x == 0) { chosen = 0x7fffffff; lastKept = -1; }
  __syncthreads();
  if (threadIdx.x == 0) {
    double total = 0;
    for (int t = 0; t < SAMPLE_THREADS; t++) total += segmentSum[t];
    segmentSum[0] = total;
  }
  __syncthreads();
  float inverseSum = (float)(1.0 / segmentSum[0]);
  __syncthreads();

  double mySum = 0;
  for (int i = begin; i < end; i++) {
    float z = __fmul_rn(x[i], invTemperature);
    if (sample_key(z, i) >= threshold) mySum += (double)__fmul_rn(sample_e(z, zMax), inverseSum);
  }
  segmentSum[threadIdx.x] = mySum;
  __syncthreads();
  if (threadIdx.x == 0) {  // exclusive prefix sums of the segments, in id order
    double running = 0;
    for (int t = 0; t < SAMPLE_THREADS; t++) {
      double s = segmentSum[t];
      segmentSum[t] = running;
      running += s;
    }
  }
  __syncthreads();
  float u = philox_uniform((uint32_t)params[5], (uint32_t)params[6], (uint32_t)params[0],
                           (uint64_t)(int64_t)params[1], PHILOX_STREAM_SAMPLE);
  double running = segmentSum[threadIdx.x];
  int myLastKept = -1;
  for (int i = begin; i < end; i++) {
    float z = __fmul_rn(x[i], invTemperature);
    if (sample_key(z, i) < threshold) continue;
    float p = __fmul_rn(sample_e(z, zMax), inverseSum);
    if (p > 0.f) {
      running += p;
      myLastKept = i;
      if (running > u) {
        atomicMin(&chosen, i);
        break;
      }
    }
  }
  if (myLastKept >= 0) atomicMax(&lastKept, myLastKept);
  __syncthreads();
  if (threadIdx.x == 0) out[row] = chosen != 0x7fffffff ? chosen : max(lastKept, 0);
}
