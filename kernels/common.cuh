// Helpers shared by every kernel: bf16 unpacking, warp and block reductions with a fixed order.
//
// Determinism: every reduction here adds in an order fixed by the thread layout alone (xor
// butterflies inside a warp, then the warp totals in warp order), never by atomics or by the
// number of rows a launch covers. Together with explicit round-to-nearest intrinsics
// (__fmaf_rn, __fmul_rn, __fadd_rn), which the compiler may not contract or reorder, a row's
// result is bitwise independent of the other rows of the launch (batch invariance).
#pragma once
#include <cuda_bf16.h>
#include <stdint.h>

#define FULL_MASK 0xffffffffu

// Programmatic dependent launch (Hopper and later: the PTX of native/sm90/, built for compute_90). A
// kernel launched with programmatic stream serialization (CudaBackend, PDL on) may start while the
// previous kernel of the stream is still running; its blocks then wait in pdl_wait until that kernel
// has finished and its writes are visible. Rules every kernel follows:
//   - pdl_wait() before reading anything an earlier kernel wrote and before any exit, so that a
//     finished kernel implies finished predecessors (dependencies two kernels back stay safe);
//   - pdl_launch_dependents() right after, so the next kernel's blocks may be scheduled as this
//     kernel's blocks retire (they run their prologue, then wait).
// Only immutable data (weights) is read before pdl_wait. Without PDL, or in the compute_80 PTX, both
// are no-ops.
__device__ __forceinline__ void pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

__device__ __forceinline__ void pdl_launch_dependents() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" :::);
#endif
}

// Fetches the line holding p into L2 (no registers held, nothing returned).
__device__ __forceinline__ void prefetch_l2(const void* p) {
  asm volatile("prefetch.global.L2 [%0];" ::"l"(p));
}

// Both, in that order: the prologue of a kernel with nothing to prefetch.
__device__ __forceinline__ void pdl_begin() {
  pdl_wait();
  pdl_launch_dependents();
}

// The float a bfloat16 bit pattern represents (exact).
__device__ __forceinline__ float bf16_bits_to_float(uint16_t bits) {
  return __uint_as_float(((uint32_t)bits) << 16);
}

// Rounds to bfloat16, to nearest with ties to even (as dev.tandem.io.FloatFormats.floatToBf16).
__device__ __forceinline__ uint16_t float_to_bf16_bits(float v) {
  __nv_bfloat16 b = __float2bfloat16_rn(v);
  return *reinterpret_cast<uint16_t*>(&b);
}

// Eight bfloat16 packed in 16 bytes (element 0 in the low half of word 0) to eight floats.
__device__ __forceinline__ void unpack_bf16x8(uint4 v, float* f) {
  f[0] = __uint_as_float(v.x << 16); f[1] = __uint_as_float(v.x & 0xffff0000u);
  f[2] = __uint_as_float(v.y << 16); f[3] = __uint_as_float(v.y & 0xffff0000u);
  f[4] = __uint_as_float(v.z << 16); f[5] = __uint_as_float(v.z & 0xffff0000u);
  f[6] = __uint_as_float(v.w << 16); f[7] = __uint_as_float(v.w & 0xffff0000u);
}

// Sum over the 32 lanes of a warp; every lane gets the same value (xor butterfly: a + b == b + a).
__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) v = __fadd_rn(v, __shfl_xor_sync(FULL_MASK, v, offset));
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) v = fmaxf(v, __shfl_xor_sync(FULL_MASK, v, offset));
  return v;
}

// Sum over all threads of the block (blockDim.x a multiple of 32, at most 1024); every thread gets
// the result. scratch: [32] floats of shared memory. Begins and ends with a barrier, so it may be
// called repeatedly with the same scratch.
__device__ __forceinline__ float block_sum(float v, float* scratch) {
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  v = warp_sum(v);
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  float total = scratch[0];
  for (int w = 1; w < warps; w++) total = __fadd_rn(total, scratch[w]);
  return total;
}

__device__ __forceinline__ float block_max(float v, float* scratch) {
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  v = warp_max(v);
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  float total = scratch[0];
  for (int w = 1; w < warps; w++) total = fmaxf(total, scratch[w]);
  return total;
}

// RMSNorm's inverse root: 1 / sqrt(mean + eps), the root taken in double as on the CPU.
__device__ __forceinline__ float inverse_rms(float sumSquares, int d, float eps) {
  float meanPlusEps = __fadd_rn(__fdiv_rn(sumSquares, (float)d), eps);
  return (float)(1.0 / sqrt((double)meanPlusEps));
}

// silu(g) * up, silu in double as on the CPU (ScalarOps.silu).
__device__ __forceinline__ float swiglu_value(float g, float up) {
  float silu = (float)((double)g / (1.0 + exp(-(double)g)));
  return __fmul_rn(silu, up);
}
