package dev.tandem.train;

/**
 * Causal self-attention over packed training sequences, and the tandem two-source attention, forward
 * and backward, with grouped-query heads.
 *
 * <p>Rows are {@code batch} sequences of {@code seqLen} positions; q: [rows][heads*headDim], keys and
 * values: [rows][kvHeads*headDim], all after RoPE. <b>Two sources</b> (DESIGN.md section 1): the query
 * at position p attends over r in [0, p]; for {@code r < b(p)} the key and value come from the
 * primary-derived source (kP, vP), for {@code b(p) <= r <= p} from the secondary's own (k, v), with
 * {@code b(p) = floor((p+1)/gamma) * gamma} and gamma the sequence's training block length. Plain
 * causal attention is the case without a primary source (every r in [0, p] is own).
 *
 * <p>Per (sequence, query head): scores {@code S = Q K^T * scale} for each source, the softmax over the
 * combined row, {@code O = P_own V + P_prim V_P}. The probabilities P [batch][heads][seqLen][seqLen]
 * (zero above the diagonal) are saved for backward: {@code dP = dO V_src^T}, {@code dS = P (dP -
 * rowsum(P dP))}, {@code dQ = (dS_own K + dS_prim K_P) scale}, {@code dK_src = dS_src^T Q scale},
 * {@code dV_src = P_src^T dO}. Tasks are (sequence, key/value head) pairs, so each task owns its slices
 * of dk, dv (summed over the group's query heads in order): deterministic.
 */
public final class AttentionOp {
  private final Gemm gemm;
  private final int seqLen;
  private final int heads;
  private final int kvHeads;
  private final int headDim;
  private final float scale;
  private final float[][] scratch;  // [worker][...] per-task buffers, see Scratch

  public AttentionOp(Gemm gemm, int seqLen, int heads, int kvHeads, int headDim) {
    if (heads % kvHeads != 0) throw new IllegalArgumentException("heads " + heads + " % kvHeads " + kvHeads);
    this.gemm = gemm;
    this.seqLen = seqLen;
    this.heads = heads;
    this.kvHeads = kvHeads;
    this.headDim = headDim;
    this.scale = (float) (1.0 / Math.sqrt(headDim));
    int t = seqLen, hd = headDim;
    scratch = new float[gemm.pool().threads()][8 * t * hd + 4 * t * t];
  }

  int seqLen() {
    return seqLen;
  }

  Gemm gemm() {
    return gemm;
  }

  /** b(p) for block length gamma (gamma <= 0: plain causal, every key is own). */
  public static int boundary(int p, int gamma) {
    return gamma <= 0 ? 0 : (p + 1) / gamma * gamma;
  }

  /** Floats of saved probabilities for {@code batch} sequences. */
  public int probsSize(int batch) {
    return batch * heads * seqLen * seqLen;
  }

  // Offsets of the per-task scratch (t = seqLen, hd = headDim).
  private int offK() { return 0; }
  private int offV() { return seqLen * headDim; }
  private int offKP() { return 2 * seqLen * headDim; }
  private int offVP() { return 3 * seqLen * headDim; }
  private int offQ() { return 4 * seqLen * headDim; }
  private int offO() { return 5 * seqLen * headDim; }
  private int offDK() { return 6 * seqLen * headDim; }  // backward: dK, then dV
  private int offS() { return 8 * seqLen * headDim; }
  private int offS2() { return offS() + seqLen * seqLen; }
  private int offPown() { return offS() + 2 * seqLen * seqLen; }
  private int offPprim() { return offS() + 3 * seqLen * seqLen; }

  /**
   * Forward. kP, vP null: plain causal. gammas[b]: block length of sequence b (ignored when plain).
   * out: [rows][heads*headDim]; probs: {@link #probsSize} floats.
   */
  public void forward(int batch, float[] q, float[] k, float[] v, float[] kP, float[] vP, int[] gammas,
      float[] out, float[] probs) {
    boolean tandem = kP != null;
    int t = seqLen, hd = headDim, group = heads / kvHeads;
    int qWidth = heads * hd, kvWidth = kvHeads * hd;
    gemm.pool().run(batch * kvHeads, (task, worker) -> {
      int b = task / kvHeads, g = task % kvHeads;
      int gamma = tandem ? gammas[b] : 0;
      float[] s = scratch[worker];
      int row0 = b * t;
      gatherKeysValues(k, v, kP, vP, row0, kvWidth, g * hd, s);
      for (int hh = 0; hh < group; hh++) {
        int h = g * group + hh;
        gather(q, row0, qWidth, h * hd, s, offQ());
        gemm.gemmSerial(worker, t, t, hd, s, offQ(), hd, 1, s, offK(), 1, hd, s, offS(), t, false);
        if (tandem) gemm.gemmSerial(worker, t, t, hd, s, offQ(), hd, 1, s, offKP(), 1, hd, s, offS2(), t, false);
        int pAt = (b * heads + h) * t * t;
        for (int p = 0; p < t; p++) {
          int bp = boundary(p, gamma);
          int row = p * t;
          float max = Float.NEGATIVE_INFINITY;
          for (int r = 0; r <= p; r++) {
            float score = (r < bp ? s[offS2() + row + r] : s[offS() + row + r]) * scale;
            probs[pAt + row + r] = score;
            max = Math.max(max, score);
          }
          float sum = 0f;
          for (int r = 0; r <= p; r++) {
            float e = (float) Math.exp(probs[pAt + row + r] - max);
            probs[pAt + row + r] = e;
            sum += e;
          }
          float inv = 1f / sum;
          for (int r = 0; r <= p; r++) probs[pAt + row + r] *= inv;
          java.util.Arrays.fill(probs, pAt + row + p + 1, pAt + row + t, 0f);
        }
        if (tandem) {
          split(probs, pAt, gamma, s, offPown(), offPprim());
          gemm.gemmSerial(worker, t, hd, t, s, offPown(), t, 1, s, offV(), hd, 1, s, offO(), hd, false);
          gemm.gemmSerial(worker, t, hd, t, s, offPprim(), t, 1, s, offVP(), hd, 1, s, offO(), hd, true);
        } else {
          gemm.gemmSerial(worker, t, hd, t, probs, pAt, t, 1, s, offV(), hd, 1, s, offO(), hd, false);
        }
        scatter(s, offO(), out, row0, qWidth, h * hd, false);
      }
    });
  }

  /** K and V of one KV head (and, for two sources, the primary's KP and VP) of one sequence into scratch s. */
  private void gatherKeysValues(float[] k, float[] v, float[] kP, float[] vP, int row0, int kvWidth, int column,
      float[] s) {
    gather(k, row0, kvWidth, column, s, offK());
    gather(v, row0, kvWidth, column, s, offV());
    if (kP != null) {
      gather(kP, row0, kvWidth, column, s, offKP());
      gather(vP, row0, kvWidth, column, s, offVP());
    }
  }

  /**
   * Backward. dOut: [rows][heads*headDim]. Writes (overwrites) dq, dk, dv and, for two sources, dkP, dvP.
   */
  public void backward(int batch, float[] q, float[] k, float[] v, float[] kP, float[] vP, int[] gammas,
      float[] probs, float[] dOut, float[] dq, float[] dk, float[] dv, float[] dkP, float[] dvP) {
    boolean tandem = kP != null;
    int t = seqLen, hd = headDim, group = heads / kvHeads;
    int qWidth = heads * hd, kvWidth = kvHeads * hd;
    gemm.pool().run(batch * kvHeads, (task, worker) -> {
      int b = task / kvHeads, g = task % kvHeads;
      int gamma = tandem ? gammas[b] : 0;
      float[] s = scratch[worker];
      int row0 = b * t;
      // Scratch in backward: K, V, KP, VP, Q (then dQ), dO, dK, dV; S: dP_own, S2: dP_prim, then dS_own and
      // dS_prim (later P_own, P_prim). dKP and dVP accumulate straight into dkP, dvP (this task's slices).
      gatherKeysValues(k, v, kP, vP, row0, kvWidth, g * hd, s);
      int dK = offDK(), dV = offDK() + t * hd;
      java.util.Arrays.fill(s, dK, dK + 2 * t * hd, 0f);
      if (tandem) {
        // dKP, dVP accumulate in the output arrays directly (this task owns the slices): zero them first.
        zeroSlice(dkP, row0, kvWidth, g * hd);
        zeroSlice(dvP, row0, kvWidth, g * hd);
      }
      for (int hh = 0; hh < group; hh++) {
        int h = g * group + hh;
        int pAt = (b * heads + h) * t * t;
        gather(q, row0, qWidth, h * hd, s, offQ());
        gather(dOut, row0, qWidth, h * hd, s, offO());
        // dP per source.
        gemm.gemmSerial(worker, t, t, hd, s, offO(), hd, 1, s, offV(), 1, hd, s, offS(), t, false);
        if (tandem) gemm.gemmSerial(worker, t, t, hd, s, offO(), hd, 1, s, offVP(), 1, hd, s, offS2(), t, false);
        // dS = P (dP - rowsum(P dP)), split by source into Pown / Pprim slots (as dS).
        int dSown = offPown(), dSprim = offPprim();
        for (int p = 0; p < t; p++) {
          int bp = boundary(p, gamma);
          int row = p * t;
          float dot = 0f;
          for (int r = 0; r <= p; r++) {
            float dP = r < bp ? s[offS2() + row + r] : s[offS() + row + r];
            dot = Math.fma(probs[pAt + row + r], dP, dot);
          }
          for (int r = 0; r < t; r++) {
            float ds = 0f;
            boolean prim = false;
            if (r <= p) {
              prim = r < bp;
              float dP = prim ? s[offS2() + row + r] : s[offS() + row + r];
              ds = probs[pAt + row + r] * (dP - dot) * scale;
            }
            s[dSown + row + r] = prim ? 0f : ds;
            if (tandem) s[dSprim + row + r] = prim ? ds : 0f;
          }
        }
        // dQ = dS_own K + dS_prim K_P (scale folded into dS).
        gemm.gemmSerial(worker, t, hd, t, s, dSown, t, 1, s, offK(), hd, 1, s, offQ(), hd, false);
        if (tandem) gemm.gemmSerial(worker, t, hd, t, s, dSprim, t, 1, s, offKP(), hd, 1, s, offQ(), hd, true);
        scatter(s, offQ(), dq, row0, qWidth, h * hd, false);
        gather(q, row0, qWidth, h * hd, s, offQ());  // dQ overwrote Q; dK needs it
        // dK += dS_own^T Q, dKP += dS_prim^T Q.
        gemm.gemmSerial(worker, t, hd, t, s, dSown, 1, t, s, offQ(), hd, 1, s, dK, hd, true);
        if (tandem) gemm.gemmSerial(worker, t, hd, t, s, dSprim, 1, t, s, offQ(), hd, 1, dkP, row0 * kvWidth + g * hd,
            kvWidth, true);
        // dV += P_own^T dO, dVP += P_prim^T dO.
        if (tandem) {
          split(probs, pAt, gamma, s, offPown(), offPprim());
          gemm.gemmSerial(worker, t, hd, t, s, offPown(), 1, t, s, offO(), hd, 1, s, dV, hd, true);
          gemm.gemmSerial(worker, t, hd, t, s, offPprim(), 1, t, s, offO(), hd, 1, dvP, row0 * kvWidth + g * hd,
              kvWidth, true);
        } else {
          gemm.gemmSerial(worker, t, hd, t, probs, pAt, 1, t, s, offO(), hd, 1, s, dV, hd, true);
        }
      }
      scatter(s, dK, dk, row0, kvWidth, g * hd, false);
      scatter(s, dV, dv, row0, kvWidth, g * hd, false);
    });
  }

  /** P split by source: own entries (r >= b(p)) and primary entries (r < b(p)), zeros elsewhere. */
  private void split(float[] probs, int pAt, int gamma, float[] s, int own, int prim) {
    int t = seqLen;
    for (int p = 0; p < t; p++) {
      int bp = boundary(p, gamma), row = p * t;
      for (int r = 0; r < t; r++) {
        float x = probs[pAt + row + r];
        boolean isPrim = r < bp;
        s[own + row + r] = isPrim ? 0f : x;
        s[prim + row + r] = isPrim ? x : 0f;
      }
    }
  }

  /** dst[t][headDim] = src rows row0.. at column col (row width width). */
  private void gather(float[] src, int row0, int width, int col, float[] dst, int dstAt) {
    for (int p = 0; p < seqLen; p++) {
      System.arraycopy(src, (row0 + p) * width + col, dst, dstAt + p * headDim, headDim);
    }
  }

  private void scatter(float[] src, int srcAt, float[] dst, int row0, int width, int col, boolean add) {
    for (int p = 0; p < seqLen; p++) {
      int d = (row0 + p) * width + col, sAt = srcAt + p * headDim;
      if (add) {
        for (int j = 0; j < headDim; j++) dst[d + j] += src[sAt + j];
      } else {
        System.arraycopy(src, sAt, dst, d, headDim);
      }
    }
  }

  private void zeroSlice(float[] dst, int row0, int width, int col) {
    for (int p = 0; p < seqLen; p++) {
      int d = (row0 + p) * width + col;
      java.util.Arrays.fill(dst, d, d + headDim, 0f);
    }
  }
}
