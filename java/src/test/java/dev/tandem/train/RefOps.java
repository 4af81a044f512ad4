package dev.tandem.train;

/**
 * The double-precision scalar reference of every training op, forward and backward, written to be
 * read (straight from the formulas, no tiling). Tests check these backward passes against finite
 * differences and the fast float path against these.
 */
final class RefOps {
  private RefOps() {}

  // Linear: y[n][out] = x[n][in] W[out][in]^T.
  static double[] linear(double[] x, int n, int in, double[] w, int out) {
    double[] y = new double[n * out];
    for (int i = 0; i < n; i++) {
      for (int o = 0; o < out; o++) {
        double s = 0;
        for (int k = 0; k < in; k++) s += x[i * in + k] * w[o * in + k];
        y[i * out + o] = s;
      }
    }
    return y;
  }

  /** Returns {dx, dW}. */
  static double[][] linearBackward(double[] dy, double[] x, int n, int in, double[] w, int out) {
    double[] dx = new double[n * in], dw = new double[out * in];
    for (int i = 0; i < n; i++) {
      for (int o = 0; o < out; o++) {
        double g = dy[i * out + o];
        for (int k = 0; k < in; k++) {
          dx[i * in + k] += g * w[o * in + k];
          dw[o * in + k] += g * x[i * in + k];
        }
      }
    }
    return new double[][] {dx, dw};
  }

  // RMSNorm.
  static double[] rmsNorm(double[] x, double[] g, double eps, int n, int d) {
    double[] y = new double[n * d];
    for (int i = 0; i < n; i++) {
      double ss = 0;
      for (int j = 0; j < d; j++) ss += x[i * d + j] * x[i * d + j];
      double r = 1 / Math.sqrt(ss / d + eps);
      for (int j = 0; j < d; j++) y[i * d + j] = x[i * d + j] * r * g[j];
    }
    return y;
  }

  /** Returns {dx, dg}. */
  static double[][] rmsNormBackward(double[] dy, double[] x, double[] g, double eps, int n, int d) {
    double[] dx = new double[n * d], dg = new double[d];
    for (int i = 0; i < n; i++) {
      double ss = 0;
      for (int j = 0; j < d; j++) ss += x[i * d + j] * x[i * d + j];
      double r = 1 / Math.sqrt(ss / d + eps);
      double dot = 0;
      for (int j = 0; j < d; j++) dot += dy[i * d + j] * g[j] * x[i * d + j];
      for (int j = 0; j < d; j++) {
        dg[j] += dy[i * d + j] * x[i * d + j] * r;
        dx[i * d + j] = r * dy[i * d + j] * g[j] - x[i * d + j] * r * r * r * dot / d;
      }
    }
    return new double[][] {dx, dg};
  }

  // RoPE (rotate half) at position i % seqLen, by +angle or -angle.
  static double[] rope(double[] x, int n, int seqLen, int heads, int hd, double theta, boolean inverse) {
    double[] y = x.clone();
    int half = hd / 2;
    for (int i = 0; i < n; i++) {
      int pos = i % seqLen;
      for (int h = 0; h < heads; h++) {
        for (int k = 0; k < half; k++) {
          double freq = 1.0 / Math.pow(theta, (2.0 * k) / hd);
          double angle = pos * freq * (inverse ? -1 : 1);
          int a = i * heads * hd + h * hd + k, b = a + half;
          y[a] = x[a] * Math.cos(angle) - x[b] * Math.sin(angle);
          y[b] = x[b] * Math.cos(angle) + x[a] * Math.sin(angle);
        }
      }
    }
    return y;
  }

  // SwiGLU.
  static double silu(double g) {
    return g / (1 + Math.exp(-g));
  }

  static double[] swiglu(double[] gate, double[] up) {
    double[] h = new double[gate.length];
    for (int i = 0; i < h.length; i++) h[i] = silu(gate[i]) * up[i];
    return h;
  }

  /** Returns {dGate, dUp}. */
  static double[][] swigluBackward(double[] dh, double[] gate, double[] up) {
    double[] dg = new double[gate.length], du = new double[gate.length];
    for (int i = 0; i < dh.length; i++) {
      double s = 1 / (1 + Math.exp(-gate[i]));
      du[i] = dh[i] * gate[i] * s;
      dg[i] = dh[i] * up[i] * s * (1 + gate[i] * (1 - s));
    }
    return new double[][] {dg, du};
  }

  // Attention, written per (p, r) with the two-source rule.

  /** True when key r of query p comes from the primary-derived source. */
  static boolean fromPrimary(int p, int r, int gamma) {
    return gamma > 0 && r < (p + 1) / gamma * gamma;
  }

  /**
   * out[n][H*hd]; q [n][H*hd]; k, v, kP, vP [n][KV*hd] (kP null: plain causal). gammas[b] per sequence.
   */
  static double[] attention(double[] q, double[] k, double[] v, double[] kP, double[] vP, int batch, int T, int H,
      int KV, int hd, int[] gammas) {
    double[] out = new double[batch * T * H * hd];
    int group = H / KV;
    double scale = 1 / Math.sqrt(hd);
    for (int b = 0; b < batch; b++) {
      int gamma = kP == null ? 0 : gammas[b];
      for (int h = 0; h < H; h++) {
        int g = h / group;
        for (int p = 0; p < T; p++) {
          double[] s = new double[p + 1];
          double max = Double.NEGATIVE_INFINITY;
          for (int r = 0; r <= p; r++) {
            double[] keys = fromPrimary(p, r, gamma) ? kP : k;
            double dot = 0;
            for (int j = 0; j < hd; j++) dot += q[((b * T + p) * H + h) * hd + j] * keys[((b * T + r) * KV + g) * hd + j];
            s[r] = dot * scale;
            max = Math.max(max, s[r]);
          }
          double sum = 0;
          for (int r = 0; r <= p; r++) {
            s[r] = Math.exp(s[r] - max);
            sum += s[r];
          }
          for (int r = 0; r <= p; r++) {
            double[] values = fromPrimary(p, r, gamma) ? vP : v;
            for (int j = 0; j < hd; j++) {
              out[((b * T + p) * H + h) * hd + j] += s[r] / sum * values[((b * T + r) * KV + g) * hd + j];
            }
          }
        }
      }
    }
    return out;
  }

  /** Returns {dq, dk, dv, dkP, dvP} (the last two null when plain). */
  static double[][] attentionBackward(double[] dOut, double[] q, double[] k, double[] v, double[] kP, double[] vP,
      int batch, int T, int H, int KV, int hd, int[] gammas) {
    double[] dq = new double[q.length], dk = new double[k.length], dv = new double[v.length];
    double[] dkP = kP == null ? null : new double[k.length], dvP = kP == null ? null : new double[v.length];
    int group = H / KV;
    double scale = 1 / Math.sqrt(hd);
    for (int b = 0; b < batch; b++) {
      int gamma = kP == null ? 0 : gammas[b];
      for (int h = 0; h < H; h++) {
        int g = h / group;
        for (int p = 0; p < T; p++) {
          int qAt = ((b * T + p) * H + h) * hd;
          double[] s = new double[p + 1];
          double max = Double.NEGATIVE_INFINITY;
          for (int r = 0; r <= p; r++) {
            double[] keys = fromPrimary(p, r, gamma) ? kP : k;
            double dot = 0;
            for (int j = 0; j < hd; j++) dot += q[qAt + j] * keys[((b * T + r) * KV + g) * hd + j];
            s[r] = dot * scale;
            max = Math.max(max, s[r]);
          }
          double sum = 0;
          for (int r = 0; r <= p; r++) {
            s[r] = Math.exp(s[r] - max);
            sum += s[r];
          }
          double[] prob = new double[p + 1], dProb = new double[p + 1];
          double rowDot = 0;
          for (int r = 0; r <= p; r++) {
            prob[r] = s[r] / sum;
            double[] values = fromPrimary(p, r, gamma) ? vP : v;
            for (int j = 0; j < hd; j++) dProb[r] += dOut[qAt + j] * values[((b * T + r) * KV + g) * hd + j];
            rowDot += prob[r] * dProb[r];
          }
          for (int r = 0; r <= p; r++) {
            boolean prim = fromPrimary(p, r, gamma);
            int kvAt = ((b * T + r) * KV + g) * hd;
            double ds = prob[r] * (dProb[r] - rowDot) * scale;
            double[] keys = prim ? kP : k, dKeys = prim ? dkP : dk, dValues = prim ? dvP : dv;
            for (int j = 0; j < hd; j++) {
              dq[qAt + j] += ds * keys[kvAt + j];
              dKeys[kvAt + j] += ds * q[qAt + j];
              dValues[kvAt + j] += prob[r] * dOut[qAt + j];
            }
          }
        }
      }
    }
    return new double[][] {dq, dk, dv, dkP, dvP};
  }

  // Cross-entropy against hard and soft targets, mean over counted rows.

  static double crossEntropy(double[] logits, int n, int V, int[] targets, double[] teacher, double hw, double sw) {
    double total = 0;
    int count = 0;
    for (int i = 0; i < n; i++) {
      if (targets[i] < 0) continue;
      count++;
      double[] logP = logSoftmax(logits, i * V, V);
      total += hw * -logP[targets[i]];
      if (teacher != null) {
        double[] logQ = logSoftmax(teacher, i * V, V);
        for (int v = 0; v < V; v++) total += sw * -Math.exp(logQ[v]) * logP[v];
      }
    }
    return total / count;
  }

  static double[] crossEntropyBackward(double[] logits, int n, int V, int[] targets, double[] teacher, double hw,
      double sw) {
    double[] dz = new double[logits.length];
    int count = 0;
    for (int i = 0; i < n; i++) if (targets[i] >= 0) count++;
    for (int i = 0; i < n; i++) {
      if (targets[i] < 0) continue;
      double[] logP = logSoftmax(logits, i * V, V);
      double[] logQ = teacher == null ? null : logSoftmax(teacher, i * V, V);
      for (int v = 0; v < V; v++) {
        double g = Math.exp(logP[v]) - (v == targets[i] ? hw : 0) - (teacher == null ? 0 : sw * Math.exp(logQ[v]));
        dz[i * V + v] = g / count;
      }
    }
    return dz;
  }

  static double[] logSoftmax(double[] x, int at, int n) {
    double max = Double.NEGATIVE_INFINITY;
    for (int i = 0; i < n; i++) max = Math.max(max, x[at + i]);
    double sum = 0;
    for (int i = 0; i < n; i++) sum += Math.exp(x[at + i] - max);
    double lse = max + Math.log(sum);
    double[] out = new double[n];
    for (int i = 0; i < n; i++) out[i] = x[at + i] - lse;
    return out;
  }

  // Conversions.
  static double[] toDouble(float[] x) {
    double[] d = new double[x.length];
    for (int i = 0; i < x.length; i++) d[i] = x[i];
    return d;
  }

  static float[] toFloat(double[] x) {
    float[] f = new float[x.length];
    for (int i = 0; i < x.length; i++) f[i] = (float) x[i];
    return f;
  }
}
