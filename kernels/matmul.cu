// Matrix products out[i][o] = sum_k x[i][k] * w[o][k] with bf16 weights in the Hugging Face Linear
// layout w [m][k], fp32 activations and fp32 accumulation (reference: ScalarOps.matmul).
//
// matmul_bf16_n{1,2,4,8}: the small-n product (decode steps, verification blocks: n <= 64), bound
// by reading the weights. Up to three weights that share the input (q, k, v or gate, up) go in one
// launch; blocks [0, b0) serve weight 0, [b0, b0 + b1) weight 1, the rest weight 2, with
// b = ceil(m / 4).
//   Threads: a block of 8 warps owns 4 consecutive output columns of one weight. k is cut into
//   steps of 256; warp w takes steps w, w + 8, ...; in a step, lane l reads 8 consecutive weights
//   (one 16-byte load) of each of the 4 columns, and the matching 8 inputs of NR rows (two 16-byte
//   loads per row), keeping NR x 4 accumulators in registers. Rows beyond NR are done NR at a time
//   (the block's 4 weight rows are then re-read from L1/L2, not from memory).
//   Reduction order of one output (fixed, whatever n is, hence batch invariant): per lane, its
//   steps in order, 8 fused multiply-adds each; then a xor butterfly over the warp; then the 8
//   warp totals in warp order. The template NR only changes how many rows share a weight load.
//   When k % 8 != 0 (rows not 16-byte aligned) every lane walks k = warp*32 + lane + 256 j with
//   scalar loads instead; the order is again fixed by k alone.
//   Shared memory: [8 warps][NR][4] partial sums.
//
//   Fusions (flags, uniform over the launch):
//   MM_NORM: the input rows are rmsnorm(x) * gain. The inverse RMS is a per-row scalar, so it is
//     applied to the products: each lane multiplies its inputs by gain and also sums their squares
//     while it walks k; the squares are reduced like the products (xor butterfly, warps in order),
//     and out = inverse_rms * product. The same function as rmsnorm_f32 then the product, rounded
//     differently (within fp32 tolerance, not bitwise); still batch invariant: a row's order depends
//     on k alone. No extra pass over x, no extra barrier.
//   MM_SWIGLU: gate and up (two weights of equal width) are done together: a block owns columns
//     c, c + 1 of both (its 4 columns: gate c, gate c + 1, up c, up c + 1), and writes
//     out0 = silu(gate) * up (the SwiGLU of the MLP) instead of either product (bitwise the same
//     as swiglu_f32 on the two products).
//   MM_RESIDUAL: out0 += product (the residual stream takes the projection directly; bitwise the
//     same as add_f32 on the product).
//   MM_PREFETCH: before its pdl_wait, each lane fetches the weights of its first step into L2 (set
//     by the backend when it launches with programmatic dependent launch; see kernels/common.cuh).
//
// matmul_bf16_tiled: the fallback for large n when no cuBLAS loads: 32 x 32 output tiles, k in
//   tiles of 32 through shared memory, one thread per 4 outputs (a column of the tile, rows
//   ty, ty + 8, ...). Shared memory: x tile [32][33] and w tile [32][33] floats.
//
// convert_f32_bf16: activations to bf16 for cuBLAS (round to nearest even); one thread per element.
#include "common.cuh"

#define MM_WARPS 8
#define MM_COLS 4
#define MM_STEP 256
#define MM_NORM 1
#define MM_SWIGLU 2
#define MM_RESIDUAL 4
#define MM_PREFETCH 8
// Resident blocks of 256 threads per SM the compiler must allow (a register cap): bound by the weight
// stream, these kernels need many loads in flight. n = 1: 5 (at most 51 registers), n = 2 and 4: 4
// (64), n = 8: 2 (128; its 32 accumulators per lane need them).
#define MM_MIN_BLOCKS(NR) ((NR) == 1 ? 5 : (NR) == 8 ? 2 : 4)

template <int NR>
__device__ __forceinline__ void matmul_small(
    const float* __restrict__ x, int n, int k,
    const uint16_t* __restrict__ w0, float* __restrict__ out0, int m0,
    const uint16_t* __restrict__ w1, float* __restrict__ out1, int m1,
    const uint16_t* __restrict__ w2, float* __restrict__ out2, int m2,
    const float* __restrict__ gain, float eps, int flags) {
  __shared__ float partial[MM_WARPS][NR][MM_COLS];
  __shared__ float partialSquares[MM_WARPS][NR];
  int block = blockIdx.x;
  bool swiglu = (flags & MM_SWIGLU) != 0;
  // Column c of the block reads weight row wRow[c] of wSrc[c]; without MM_SWIGLU all four come from
  // one weight, with it two from gate (w0) and two from up (w1).
  const uint16_t* wSrc[MM_COLS];
  int wRow[MM_COLS];
  float* out;
  int m, col0;
  if (swiglu) {
    col0 = block * 2;
    m = m0;
    out = out0;
    for (int c = 0; c < MM_COLS; c++) {
      wSrc[c] = c < 2 ? w0 : w1;
      wRow[c] = col0 + (c & 1);
    }
  } else {
    int b0 = (m0 + MM_COLS - 1) / MM_COLS, b1 = (m1 + MM_COLS - 1) / MM_COLS;
    const uint16_t* w;
    if (block < b0) { w = w0; out = out0; m = m0; }
    else if (block < b0 + b1) { block -= b0; w = w1; out = out1; m = m1; }
    else { block -= b0 + b1; w = w2; out = out2; m = m2; }
    col0 = block * MM_COLS;
    for (int c = 0; c < MM_COLS; c++) {
      wSrc[c] = w;
      wRow[c] = col0 + c;
    }
  }
  int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  bool vectorized = (k & 7) == 0;
  bool norm = (flags & MM_NORM) != 0;
  bool active = col0 < m;  // uniform over the block

  // Prologue (programmatic dependent launch): the weights are immutable, so the 16 bytes of each column
  // this lane reads in its first step are fetched into L2 before waiting for the previous kernel, whose
  // tail the fetch overlaps (a prefetch holds no registers); x is read only after the wait.
  int firstStep = warp * MM_STEP + lane * 8;
  if ((flags & MM_PREFETCH) && active && vectorized && firstStep < k) {
#pragma unroll
    for (int c = 0; c < MM_COLS; c++) {
      if (wRow[c] < m) prefetch_l2(wSrc[c] + (size_t)wRow[c] * k + firstStep);
    }
  }
  pdl_begin();
  if (!active) return;

  for (int r0 = 0; r0 < n; r0 += NR) {
    float acc[NR][MM_COLS];
    float squares[NR];  // MM_NORM: this lane's sum of x^2 per row
#pragma unroll
    for (int r = 0; r < NR; r++) {
      squares[r] = 0.f;
#pragma unroll
      for (int c = 0; c < MM_COLS; c++) acc[r][c] = 0.f;
    }

    if (vectorized) {
      for (int kk = warp * MM_STEP + lane * 8; kk < k; kk += MM_WARPS * MM_STEP) {
        uint4 wv[MM_COLS];
#pragma unroll
        for (int c = 0; c < MM_COLS; c++) {
          wv[c] = wRow[c] < m ? __ldg(reinterpret_cast<const uint4*>(wSrc[c] + (size_t)wRow[c] * k + kk))
                              : make_uint4(0, 0, 0, 0);
        }
#pragma unroll
        for (int r = 0; r < NR; r++) {
          if (r0 + r < n) {
            const float4* xp = reinterpret_cast<const float4*>(x + (size_t)(r0 + r) * k + kk);
            float4 a = xp[0], b = xp[1];
            float xs[8] = {a.x, a.y, a.z, a.w, b.x, b.y, b.z, b.w};
            if (norm) {
              const float4* gp = reinterpret_cast<const float4*>(gain + kk);
              float4 ga = gp[0], gb = gp[1];
              float gs[8] = {ga.x, ga.y, ga.z, ga.w, gb.x, gb.y, gb.z, gb.w};
#pragma unroll
              for (int e = 0; e < 8; e++) {
                squares[r] = __fmaf_rn(xs[e], xs[e], squares[r]);
                xs[e] = __fmul_rn(xs[e], gs[e]);
              }
            }
#pragma unroll
            for (int c = 0; c < MM_COLS; c++) {
              float wf[8];
              unpack_bf16x8(wv[c], wf);
#pragma unroll
              for (int e = 0; e < 8; e++) acc[r][c] = __fmaf_rn(xs[e], wf[e], acc[r][c]);
            }
          }
        }
      }
    } else {
      for (int kk = warp * 32 + lane; kk < k; kk += MM_WARPS * 32) {
        float wf[MM_COLS];
#pragma unroll
        for (int c = 0; c < MM_COLS; c++) {
          wf[c] = wRow[c] < m ? bf16_bits_to_float(wSrc[c][(size_t)wRow[c] * k + kk]) : 0.f;
        }
#pragma unroll
        for (int r = 0; r < NR; r++) {
          if (r0 + r < n) {
            float xv = x[(size_t)(r0 + r) * k + kk];
            if (norm) {
              squares[r] = __fmaf_rn(xv, xv, squares[r]);
              xv = __fmul_rn(xv, gain[kk]);
            }
#pragma unroll
            for (int c = 0; c < MM_COLS; c++) acc[r][c] = __fmaf_rn(xv, wf[c], acc[r][c]);
          }
        }
      }
    }
#pragma unroll
    for (int r = 0; r < NR; r++) {
#pragma unroll
      for (int c = 0; c < MM_COLS; c++) {
        float v = warp_sum(acc[r][c]);
        if (lane == 0) partial[warp][r][c] = v;
      }
      if (norm) {
        float sq = warp_sum(squares[r]);
        if (lane == 0) partialSquares[warp][r] = sq;
      }
    }
    __syncthreads();
    if (threadIdx.x < NR * MM_COLS) {
      int r = threadIdx.x / MM_COLS, c = threadIdx.x % MM_COLS;
      float scale = 1.f;  // MM_NORM: the row's inverse RMS
      if (norm) {
        float sumSquares = partialSquares[0][r];
        for (int ww = 1; ww < MM_WARPS; ww++) sumSquares = __fadd_rn(sumSquares, partialSquares[ww][r]);
        scale = inverse_rms(sumSquares, k, eps);
      }
      if (swiglu) {
        if (c < 2 && r0 + r < n && col0 + c < m) {
          float gate = partial[0][r][c], up = partial[0][r][c + 2];
          for (int ww = 1; ww < MM_WARPS; ww++) {
            gate = __fadd_rn(gate, partial[ww][r][c]);
            up = __fadd_rn(up, partial[ww][r][c + 2]);
          }
          if (norm) {
            gate = __fmul_rn(gate, scale);
            up = __fmul_rn(up, scale);
          }
          out[(size_t)(r0 + r) * m + col0 + c] = swiglu_value(gate, up);
        }
      } else if (r0 + r < n && col0 + c < m) {
        float sum = partial[0][r][c];
        for (int ww = 1; ww < MM_WARPS; ww++) sum = __fadd_rn(sum, partial[ww][r][c]);
        if (norm) sum = __fmul_rn(sum, scale);
        float* o = out + (size_t)(r0 + r) * m + col0 + c;
        *o = (flags & MM_RESIDUAL) ? __fadd_rn(*o, sum) : sum;
      }
    }
    __syncthreads();
  }
}

#define MATMUL_SMALL_ENTRY(NR)                                                                      \
  extern "C" __global__ void __launch_bounds__(MM_WARPS * 32, MM_MIN_BLOCKS(NR)) matmul_bf16_n##NR(               \
      const float* __restrict__ x,      /* [n][k] */                                                \
      const uint16_t* __restrict__ w0,  /* [m0][k] bf16 */                                          \
      float* __restrict__ out0,         /* [n][m0] */                                               \
      const uint16_t* __restrict__ w1,  /* [m1][k] bf16, unused when m1 == 0 */                     \
      float* __restrict__ out1,         /* [n][m1] */                                               \
      const uint16_t* __restrict__ w2,  /* [m2][k] bf16, unused when m2 == 0 */                     \
      float* __restrict__ out2,         /* [n][m2] */                                               \
      const float* __restrict__ gain,   /* [k] with MM_NORM, else unused */                         \
      int n, int k, int m0, int m1, int m2, float eps, int flags) {                                 \
    matmul_small<NR>(x, n, k, w0, out0, m0, w1, out1, m1, w2, out2, m2, gain, eps, flags);          \
  }

MATMUL_SMALL_ENTRY(1)
MATMUL_SMALL_ENTRY(2)
MATMUL_SMALL_ENTRY(4)
MATMUL_SMALL_ENTRY(8)

#define TILE 32

extern "C" __global__ void __launch_bounds__(256) matmul_bf16_tiled(
    const float* __restrict__ x,     // [n][k]
    const uint16_t* __restrict__ w,  // [m][k] bf16
    float* __restrict__ out,         // [n][m]
    int n, int k, int m) {
  pdl_begin();
  __shared__ float xs[TILE][TILE + 1];
  __shared__ float ws[TILE][TILE + 1];
  int tx = threadIdx.x & 31, ty = threadIdx.x >> 5;  // 32 x 8 threads
  int row0 = blockIdx.y * TILE, col0 = blockIdx.x * TILE;
  float acc[4] = {0.f, 0.f, 0.f, 0.f};
  for (int k0 = 0; k0 < k; k0 += TILE) {
    for (int r = ty; r < TILE; r += 8) {
      int gr = row0 + r, gk = k0 + tx;
      xs[r][tx] = (gr < n && gk < k) ? x[(size_t)gr * k + gk] : 0.f;
      int gc = col0 + r;
      ws[r][tx] = (gc < m && gk < k) ? bf16_bits_to_float(w[(size_t)gc * k + gk]) : 0.f;
    }
    __syncthreads();
#pragma unroll
    for (int j = 0; j < 4; j++) {
      int r = ty + 8 * j;
#pragma unroll 8
      for (int kk = 0; kk < TILE; kk++) acc[j] = __fmaf_rn(xs[r][kk], ws[tx][kk], acc[j]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int j = 0; j < 4; j++) {
    int gr = row0 + ty + 8 * j, gc = col0 + tx;
    if (gr < n && gc < m) out[(size_t)gr * m + gc] = acc[j];
  }
}

extern "C" __global__ void __launch_bounds__(256) convert_f32_bf16(
    const float* __restrict__ in,  // [count]
    uint16_t* __restrict__ out,    // [count] bf16
    int count) {
  pdl_begin();
  int idx = blockIdx.x * blockDim.x + threadIdx.x;
  if (idx < count) out[idx] = float_to_bf16_bits(in[idx]);
}
