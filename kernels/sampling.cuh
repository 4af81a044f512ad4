// The pieces of dev.tandem.sampling.Sampler on the device, each run by a whole block of
// SAMPLE_THREADS threads over one row of logits (sample.cu, speed.cu):
//   sample_filter: z = logits * invTemperature, the max z, and the filters as a threshold on a sort
//     key (ids with key >= threshold are kept), and the kept mass;
//   sample_p: the filtered, normalised probability of one id;
//   sample_draw: the first id, in id order, at which the running sum (in double) of a weight
//     function exceeds u, or the last id with positive weight.
//
// The filters: key_i = (z_i's order-preserving bits, ~i) as an unsigned 64-bit number, unique per id,
// larger for larger z and, on equal z, for the lower id (the CPU's sort order). The top-k threshold is
// the k-th largest key (a radix select over the key's eight bytes: a 256-bin count per byte, from the
// top); the top-p threshold is the largest key whose kept keys above and equal hold topP of the kept
// mass (the same search over 256-bin masses). The top-p masses are in fixed point (e * 2^40 as
// integers: exact, order-independent sums, so the cut is deterministic); the normalising mass and the
// draw's running sums are in double in a fixed order (per-thread segments of contiguous ids, then the
// segment totals in order). A result can differ from the CPU's only where u lies within about 1e-12
// of a boundary of the running sum or the top-p cut within about 1e-12 of the target mass.
// Shared memory: 1024 doubles, 256 64-bit bins, 32 floats, a few scalars.
#pragma once
#include "common.cuh"
#include "philox.cuh"

#define SAMPLE_THREADS 1024
#define SAMPLE_FIXED_ONE 1099511627776.0  // 2^40: e in [0, 1] as a fixed-point integer

struct SampleShared {
  double segmentSum[SAMPLE_THREADS];
  unsigned long long bins[256];
  float scratch[32];
  unsigned long long decidedKey, decidedRest;
  int chosen, lastPositive;
};

// What sample_filter finds for a row; every thread of the block holds the same values.
struct SampleFilter {
  float invTemperature;
  float zMax;
  unsigned long long threshold;  // ids with key >= threshold are kept
  float inverseSum;              // (float) (1 / kept mass), the mass in double
};

// The CPU's sort key of (z, id) (Sampler.distribution), as an unsigned number with the same order.
__device__ __forceinline__ unsigned long long sample_key(float z, int id) {
  int bits = __float_as_int(z);
  int sortable = bits ^ ((bits >> 31) & 0x7fffffff);
  return ((unsigned long long)((uint32_t)sortable ^ 0x80000000u) << 32) | (uint32_t)(~id);
}

__device__ __forceinline__ float sample_e(float z, float zMax) {
  return (float)exp((double)__fsub_rn(z, zMax));
}

// This thread's ids: [begin, end), contiguous, segment = ceil(vocab / SAMPLE_THREADS).
__device__ __forceinline__ void sample_segment(int vocab, int& begin, int& end) {
  int segment = (vocab + SAMPLE_THREADS - 1) / SAMPLE_THREADS;
  begin = min(vocab, (int)threadIdx.x * segment);
  end = min(vocab, begin + segment);
}

// Exclusive prefix sums, in thread order, of each thread's value (thread 0 walks them); returns this
// thread's offset. Begins and ends with a barrier.
__device__ __forceinline__ double sample_exclusive_scan(double value, SampleShared& sh) {
  __syncthreads();
  sh.segmentSum[threadIdx.x] = value;
  __syncthreads();
  if (threadIdx.x == 0) {
    double running = 0;
    for (int t = 0; t < SAMPLE_THREADS; t++) {
      double s = sh.segmentSum[t];
      sh.segmentSum[t] = running;
      running += s;
    }
  }
  __syncthreads();
  double offset = sh.segmentSum[threadIdx.x];
  __syncthreads();
  return offset;
}

// Sum over the block in a fixed order (segments in thread order).
__device__ __forceinline__ double sample_total(double value, SampleShared& sh) {
  __syncthreads();
  sh.segmentSum[threadIdx.x] = value;
  __syncthreads();
  if (threadIdx.x == 0) {
    double total = 0;
    for (int t = 0; t < SAMPLE_THREADS; t++) total += sh.segmentSum[t];
    sh.segmentSum[0] = total;
  }
  __syncthreads();
  double total = sh.segmentSum[0];
  __syncthreads();
  return total;
}

// Radix search over the keys of kept ids (key >= floor): the largest key T with
// weight(keys >= T) >= need, weight(i) = 1 (counting: T = the need-th largest key) or the fixed-point
// mass of id i.
template <bool MASS>
__device__ __forceinline__ unsigned long long sample_radix(const float* x, const SampleFilter& f, int begin, int end,
                                                           unsigned long long floor, unsigned long long need,
                                                           SampleShared& sh) {
  unsigned long long prefix = 0;
  for (int shift = 56; shift >= 0; shift -= 8) {
    if (threadIdx.x < 256) sh.bins[threadIdx.x] = 0;
    __syncthreads();
    unsigned long long high = shift == 56 ? 0ull : ~0ull << (shift + 8);
    for (int i = begin; i < end; i++) {
      float z = __fmul_rn(x[i], f.invTemperature);
      unsigned long long key = sample_key(z, i);
      if (key >= floor && (key & high) == (prefix & high)) {
        unsigned long long w = MASS ? (unsigned long long)((double)sample_e(z, f.zMax) * SAMPLE_FIXED_ONE) : 1ull;
        atomicAdd(&sh.bins[(key >> shift) & 255], w);
      }
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      unsigned long long above = 0;
      int d = 255;
      for (; d > 0; d--) {
        if (above + sh.bins[d] >= need) break;
        above += sh.bins[d];
      }
      sh.decidedKey = prefix | ((unsigned long long)d << shift);
      sh.decidedRest = need > above ? need - above : 0;
    }
    __syncthreads();
    prefix = sh.decidedKey;
    need = sh.decidedRest;
  }
  return prefix;
}

// The filter of one row (not greedy): temperature, top-k (0: all), top-p (1: all).
__device__ __forceinline__ SampleFilter sample_filter(const float* x, int vocab, float invTemperature, int topK,
                                                      float topP, SampleShared& sh) {
  SampleFilter f;
  f.invTemperature = invTemperature;
  int begin, end;
  sample_segment(vocab, begin, end);
  float localMax = -INFINITY;
  for (int i = begin; i < end; i++) localMax = fmaxf(localMax, __fmul_rn(x[i], invTemperature));
  f.zMax = block_max(localMax, sh.scratch);
  f.threshold = 0;
  if (topK > 0 && topK < vocab) f.threshold = sample_radix<false>(x, f, begin, end, 0, (unsigned long long)topK, sh);
  if (topP < 1.f) {
    unsigned long long localMass = 0;
    for (int i = begin; i < end; i++) {
      float z = __fmul_rn(x[i], invTemperature);
      if (sample_key(z, i) >= f.threshold) localMass += (unsigned long long)((double)sample_e(z, f.zMax) * SAMPLE_FIXED_ONE);
    }
    if (threadIdx.x == 0) sh.bins[0] = 0;
    __syncthreads();
    atomicAdd(&sh.bins[0], localMass);
    __syncthreads();
    unsigned long long keptMass = sh.bins[0];
    __syncthreads();
    unsigned long long target = (unsigned long long)ceil((double)topP * (double)keptMass);
    f.threshold = max(f.threshold, sample_radix<true>(x, f, begin, end, f.threshold, target, sh));
  }
  double localSum = 0;
  for (int i = begin; i < end; i++) {
    float z = __fmul_rn(x[i], invTemperature);
    if (sample_key(z, i) >= f.threshold) localSum += (double)sample_e(z, f.zMax);
  }
  f.inverseSum = (float)(1.0 / sample_total(localSum, sh));
  return f;
}

// The filtered, normalised probability of id i (0 when filtered out), as Sampler.distribution.
__device__ __forceinline__ float sample_p(const float* x, const SampleFilter& f, int i) {
  float z = __fmul_rn(x[i], f.invTemperature);
  return sample_key(z, i) >= f.threshold ? __fmul_rn(sample_e(z, f.zMax), f.inverseSum) : 0.f;
}

// Sampler.draw over weight(i) for ids [0, vocab): the first id at which the running sum (double, id
// order) exceeds u, else the last id with weight > 0 (0 when there is none). Every thread gets it.
template <typename Weight>
__device__ __forceinline__ int sample_draw(int vocab, float u, Weight weight, SampleShared& sh) {
  int begin, end;
  sample_segment(vocab, begin, end);
  double mySum = 0;
  for (int i = begin; i < end; i++) {
    float w = weight(i);
    if (w > 0.f) mySum += (double)w;
  }
  double running = sample_exclusive_scan(mySum, sh);
  if (threadIdx.x == 0) {
    sh.chosen = 0x7fffffff;
    sh.lastPositive = -1;
  }
  __syncthreads();
  int myLast = -1;
  for (int i = begin; i < end; i++) {
    float w = weight(i);
    if (w > 0.f) {
      running += w;
      myLast = i;
      if (running > u) {
        atomicMin(&sh.chosen, i);
        break;
      }
    }
  }
  if (myLast >= 0) atomicMax(&sh.lastPositive, myLast);
  __syncthreads();
  int token = sh.chosen != 0x7fffffff ? sh.chosen : max(sh.lastPositive, 0);
  __syncthreads();
  return token;
}
