package dev.tandem.train;

import dev.tandem.backend.cpu.WorkerPool;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The training matrix product: {@code C[M][N] (+)= A[M][K] * B[K][N]} with A and B given by strides,
 * so that one kernel serves the three products of a linear layer (forward {@code Y = X W^T}, input
 * gradient {@code dX = dY W}, weight gradient {@code dW += dY^T X}) without copies; see
 * {@link #linearForward}, {@link #linearBackwardInput} and {@link #linearBackwardWeight}.
 *
 * <p>Blocked the GotoBLAS way: for each block of K ({@link #KC}) a block of B ([KC][NC]) is packed into
 * strips of {@link #NR} columns and a block of A ([MC][KC]) into panels of {@link #MR} rows; the micro
 * kernel keeps an MR x NR tile of C in 12 vector registers (with AVX2: 6 rows x 2 vectors of 8), and for
 * each p broadcasts one A value per row and loads two B vectors. Zero padding of the packed panels makes
 * edge tiles run the same kernel; their results go through a small tile buffer.
 *
 * <p><b>Arithmetic, fixed</b>: for each block of K, {@code acc = 0; for p: acc = fma(a[i][p], b[p][j], acc)};
 * then {@code c[i][j] = acc} (first block, not accumulating) or {@code c[i][j] = c[i][j] + acc}. Every
 * element gets exactly this sequence whatever tile, thread or thread count computes it, so results are
 * deterministic and equal bit for bit to {@link #reference} (a plain loop doing the same).
 *
 * <p>Threads: tasks are (MC rows x NC columns) blocks of C, handed out by the {@link WorkerPool}; each
 * task packs its own panels into its worker's scratch.
 */
public final class Gemm {
  private static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_PREFERRED;
  private static final int LANES = SPECIES.length();
  /** Rows of the register tile. */
  static final int MR = 6;
  /** Columns of the register tile: two vectors. */
  static final int NR = 2 * LANES;
  /** Block of K kept in registers per pass (and the reduction unit of the fixed arithmetic). */
  static final int KC = 256;
  /** Rows of C per task (a multiple of MR). */
  static final int MC = 16 * MR;
  /** Columns of C per task (a multiple of NR). */
  static final int NC = 256 / NR * NR;

  private final WorkerPool pool;
  private final float[][] packedA;  // [worker][MC/MR panels][KC][MR]
  private final float[][] packedB;  // [worker][NC/NR strips][KC][NR]
  private final float[][] tile;     // [worker][MR][NR] edge tiles

  public Gemm(WorkerPool pool) {
    this.pool = pool;
    int threads = pool.threads();
    packedA = new float[threads][MC * KC];
    packedB = new float[threads][NC * KC];
    tile = new float[threads][MR * NR];
  }

  public WorkerPool pool() {
    return pool;
  }

  /**
   * {@code C = A B} or {@code C += A B}. Element (i, p) of A is {@code a[aOff + i*aRs + p*aCs]}, element
   * (p, j) of B is {@code b[bOff + p*bRs + j*bCs]}, C is row-major with leading dimension {@code ldc}.
   */
  public void gemm(int m, int n, int k, float[] a, int aOff, int aRs, int aCs, float[] b, int bOff, int bRs,
      int bCs, float[] c, int cOff, int ldc, boolean accumulate) {
    if (m <= 0 || n <= 0) return;
    if (k <= 0) {
      if (!accumulate) for (int i = 0; i < m; i++) java.util.Arrays.fill(c, cOff + i * ldc, cOff + i * ldc + n, 0f);
      return;
    }
    int mBlocks = (m + MC - 1) / MC, nBlocks = (n + NC - 1) / NC;
    pool.run(mBlocks * nBlocks, (task, worker) -> {
      int ib = task / nBlocks, jb = task % nBlocks;
      int i0 = ib * MC, mc = Math.min(MC, m - i0);
      int j0 = jb * NC, nc = Math.min(NC, n - j0);
      block(worker, i0, mc, j0, nc, k, a, aOff, aRs, aCs, b, bOff, bRs, bCs, c, cOff, ldc, accumulate);
    });
  }

  /** Single-threaded {@link #gemm} on the calling worker's scratch (inside a pool task). */
  public void gemmSerial(int worker, int m, int n, int k, float[] a, int aOff, int aRs, int aCs, float[] b, int bOff,
      int bRs, int bCs, float[] c, int cOff, int ldc, boolean accumulate) {
    if (m <= 0 || n <= 0) return;
    if (k <= 0) {
      if (!accumulate) for (int i = 0; i < m; i++) java.util.Arrays.fill(c, cOff + i * ldc, cOff + i * ldc + n, 0f);
      return;
    }
    for (int i0 = 0; i0 < m; i0 += MC) {
      for (int j0 = 0; j0 < n; j0 += NC) {
        block(worker, i0, Math.min(MC, m - i0), j0, Math.min(NC, n - j0), k, a, aOff, aRs, aCs, b, bOff, bRs, bCs,
            c, cOff, ldc, accumulate);
      }
    }
  }

  /** One task: C[i0, i0+mc) x [j0, j0+nc) over all of K. */
  private void block(int worker, int i0, int mc, int j0, int nc, int k, float[] a, int aOff, int aRs, int aCs,
      float[] b, int bOff, int bRs, int bCs, float[] c, int cOff, int ldc, boolean accumulate) {
    float[] pa = packedA[worker], pb = packedB[worker], t = tile[worker];
    int panels = (mc + MR - 1) / MR, strips = (nc + NR - 1) / NR;
    for (int p0 = 0; p0 < k; p0 += KC) {
      int kc = Math.min(KC, k - p0);
      boolean add = accumulate || p0 > 0;
      packB(b, bOff + p0 * bRs + j0 * bCs, bRs, bCs, kc, nc, pb);
      packA(a, aOff + i0 * aRs + p0 * aCs, aRs, aCs, mc, kc, pa);
      for (int s = 0; s < strips; s++) {
        int jj = s * NR, ncols = Math.min(NR, nc - jj);
        for (int q = 0; q < panels; q++) {
          int ii = q * MR, nrows = Math.min(MR, mc - ii);
          int cAt = cOff + (i0 + ii) * ldc + j0 + jj;
          if (nrows == MR && ncols == NR) {
            kernel(pa, q * kc * MR, pb, s * kc * NR, kc, c, cAt, ldc, add);
          } else {
            kernel(pa, q * kc * MR, pb, s * kc * NR, kc, t, 0, NR, false);
            for (int r = 0; r < nrows; r++) {
              for (int j = 0; j < ncols; j++) {
                int at = cAt + r * ldc + j;
                c[at] = add ? c[at] + t[r * NR + j] : t[r * NR + j];
              }
            }
          }
        }
      }
    }
  }

  /** A block [mc][kc] into panels [panel][p][MR], rows past mc zero. */
  private static void packA(float[] a, int off, int rs, int cs, int mc, int kc, float[] pa) {
    int panels = (mc + MR - 1) / MR;
    for (int q = 0; q < panels; q++) {
      int base = q * kc * MR;
      int rows = Math.min(MR, mc - q * MR);
      if (cs != 1) continue;
      {
        for (int r = 0; r < MR; r++) {
          if (r < rows) {
            int src = off + (q * MR + r) * rs;
            for (int p = 0; p < kc; p++) pa[base + p * MR + r] = a[src + p];
          } else {
            for (int p = 0; p < kc; p++) pa[base + p * MR + r] = 0f;
          }
        }
      }
    }
    if (cs != 1) {
      // Transposed A (rs small): walk p outermost so each source row is read once, contiguously.
      for (int p = 0; p < kc; p++) {
        int rowAt = off + p * cs;
        for (int q = 0; q < panels; q++) {
          int rows = Math.min(MR, mc - q * MR);
          int src = rowAt + q * MR * rs;
          int dst = q * kc * MR + p * MR;
          for (int r = 0; r < rows; r++) pa[dst + r] = a[src + r * rs];
          for (int r = rows; r < MR; r++) pa[dst + r] = 0f;
        }
      }
    }
  }

  /** B block [kc][nc] into strips [strip][p][NR], columns past nc zero. */
  private static void packB(float[] b, int off, int rs, int cs, int kc, int nc, float[] pb) {
    int strips = (nc + NR - 1) / NR;
    for (int s = 0; s < strips; s++) {
      int base = s * kc * NR;
      int cols = Math.min(NR, nc - s * NR);
      if (cs == 1) {
        for (int p = 0; p < kc; p++) {
          int src = off + p * rs + s * NR;
          int dst = base + p * NR;
          if (cols == NR) {
            System.arraycopy(b, src, pb, dst, NR);
          } else {
            for (int j = 0; j < cols; j++) pb[dst + j] = b[src + j];
            for (int j = cols; j < NR; j++) pb[dst + j] = 0f;
          }
        }
      } else {
        for (int j = 0; j < NR; j++) {
          if (j < cols) {
            int src = off + (s * NR + j) * cs;
            for (int p = 0; p < kc; p++) pb[base + p * NR + j] = b[src + p * rs];
          } else {
            for (int p = 0; p < kc; p++) pb[base + p * NR + j] = 0f;
          }
        }
      }
    }
  }

  /** The MR x NR register tile over kc steps of packed A and B; writes (or adds to) C at cAt, stride ldc. */
  private static void kernel(float[] pa, int aAt, float[] pb, int bAt, int kc, float[] c, int cAt, int ldc,
      boolean add) {
    FloatVector c00 = FloatVector.zero(SPECIES), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    FloatVector c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    for (int p = 0; p < kc; p++) {
      int bp = bAt + p * NR, ap = aAt + p * MR;
      FloatVector b0 = FloatVector.fromArray(SPECIES, pb, bp);
      FloatVector b1 = FloatVector.fromArray(SPECIES, pb, bp + LANES);
      FloatVector x = FloatVector.broadcast(SPECIES, pa[ap]);
      c00 = x.fma(b0, c00);
      c01 = x.fma(b1, c01);
      x = FloatVector.broadcast(SPECIES, pa[ap + 1]);
      c10 = x.fma(b0, c10);
      c11 = x.fma(b1, c11);
      x = FloatVector.broadcast(SPECIES, pa[ap + 2]);
      c20 = x.fma(b0, c20);
      c21 = x.fma(b1, c21);
      x = FloatVector.broadcast(SPECIES, pa[ap + 3]);
      c30 = x.fma(b0, c30);
      c31 = x.fma(b1, c31);
      x = FloatVector.broadcast(SPECIES, pa[ap + 4]);
      c40 = x.fma(b0, c40);
      c41 = x.fma(b1, c41);
      x = FloatVector.broadcast(SPECIES, pa[ap + 5]);
      c50 = x.fma(b0, c50);
      c51 = x.fma(b1, c51);
    }
    store(c00, c01, c, cAt, add);
    store(c10, c11, c, cAt + ldc, add);
    store(c20, c21, c, cAt + 2 * ldc, add);
    store(c30, c31, c, cAt + 3 * ldc, add);
    store(c40, c41, c, cAt + 4 * ldc, add);
    store(c50, c51, c, cAt + 5 * ldc, add);
  }

  private static void store(FloatVector v0, FloatVector v1, float[] c, int at, boolean add) {
    if (add) {
      v0 = FloatVector.fromArray(SPECIES, c, at).add(v0);
      v1 = FloatVector.fromArray(SPECIES, c, at + LANES).add(v1);
    }
    v0.intoArray(c, at);
    v1.intoArray(c, at + LANES);
  }

  /**
   * The scalar loop with the same fixed arithmetic as {@link #gemm} (K in blocks of {@link #KC}, one fused
   * multiply-add chain per block): the fast path must equal it bit for bit.
   */
  public static void reference(int m, int n, int k, float[] a, int aOff, int aRs, int aCs, float[] b, int bOff,
      int bRs, int bCs, float[] c, int cOff, int ldc, boolean accumulate) {
    for (int i = 0; i < m; i++) {
      for (int j = 0; j < n; j++) {
        int at = cOff + i * ldc + j;
        if (k <= 0 && !accumulate) c[at] = 0f;
        for (int p0 = 0; p0 < k; p0 += KC) {
          float acc = 0f;
          for (int p = p0; p < Math.min(k, p0 + KC); p++) {
            acc = Math.fma(a[aOff + i * aRs + p * aCs], b[bOff + p * bRs + j * bCs], acc);
          }
          c[at] = accumulate || p0 > 0 ? c[at] + acc : acc;
        }
      }
    }
  }

  // The three products of a linear layer y = x W^T, W in the Hugging Face layout [out][in].

  /** {@code y[rows][out] = x[rows][in] * W^T}. */
  public void linearForward(float[] x, int rows, int in, float[] w, int out, float[] y) {
    gemm(rows, out, in, x, 0, in, 1, w, 0, 1, in, y, 0, out, false);
  }

  /** {@code dx[rows][in] (+)= dy[rows][out] * W}. */
  public void linearBackwardInput(float[] dy, int rows, int out, float[] w, int in, float[] dx, boolean accumulate) {
    gemm(rows, in, out, dy, 0, out, 1, w, 0, in, 1, dx, 0, in, accumulate);
  }

  /** {@code dW[out][in] += dy^T * x}. */
  public void linearBackwardWeight(float[] dy, int rows, int out, float[] x, int in, float[] dw) {
    gemm(out, in, rows, dy, 0, 1, out, x, 0, in, 1, dw, 0, in, true);
  }
}
