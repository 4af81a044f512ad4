// Philox4x32-10, exactly as dev.tandem.sampling.Philox: a random number is a pure function of a
// 64-bit key and a 128-bit counter, so CPU and GPU draw the same value for (seed, sequence,
// position, stream).
#pragma once
#include <stdint.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

#define PHILOX_STREAM_SAMPLE 0u
#define PHILOX_STREAM_ACCEPT 1u
#define PHILOX_STREAM_RESIDUAL 2u
#define PHILOX_STREAM_DRAFT 3u     // RejectionSampler.STREAM_DRAFT: the drafter's draws

// The four output words for key (k0, k1) and counter (c.x, c.y, c.z, c.w).
__device__ __forceinline__ uint4 philox4x32_10(uint32_t k0, uint32_t k1, uint4 c) {
#pragma unroll
  for (int round = 0; round < 10; round++) {
    uint32_t lo0 = PHILOX_M0 * c.x, hi0 = __umulhi(PHILOX_M0, c.x);
    uint32_t lo1 = PHILOX_M1 * c.z, hi1 = __umulhi(PHILOX_M1, c.z);
    c = make_uint4(hi1 ^ c.y ^ k0, lo1, hi0 ^ c.w ^ k1, lo0);
    k0 += PHILOX_W0;
    k1 += PHILOX_W1;
  }
  return c;
}

// Philox.uniform(seed, sequence, position, stream): the top 24 bits of the first word times 2^-24.
// seedLo/seedHi: the seed's low and high 32 bits; sequence is taken modulo 2^32 as on the CPU.
__device__ __forceinline__ float philox_uniform(uint32_t seedLo, uint32_t seedHi, uint32_t sequence,
                                               uint64_t position, uint32_t stream) {
  uint4 out = philox4x32_10(seedLo, seedHi,
                            make_uint4((uint32_t)position, (uint32_t)(position >> 32), sequence, stream));
  return (float)(out.x >> 8) * 0x1.0p-24f;
}
