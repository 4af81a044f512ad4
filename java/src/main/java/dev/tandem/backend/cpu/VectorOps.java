package dev.tandem.backend.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The fast CPU kernels (Vector API). Each names its reference in {@link ScalarOps}; tests compare
 * them on awkward sizes.
 *
 * <p><b>Batch invariance.</b> Every result is computed the same way whatever tile or block it
 * belongs to. Matrix products (weights packed in column panels) give each output one chain of fused
 * multiply-adds over the input features in order; tiling only changes which chains run together.
 * Dot products along a vector (attention scores, RMSNorm) use one vector accumulator chain, its
 * lanes summed in lane order, then the scalar tail. So a row's output is bitwise independent of the
 * other rows of the block and of the thread count. Lane sums avoid {@code reduceLanes(ADD)}, whose
 * order the Vector API leaves open and which could differ between the interpreter and compiled
 * code; transcendental functions use {@link Math#exp}, never the Vector API's lanewise EXP.
 */
public final class VectorOps {
  private VectorOps() {}

  static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_PREFERRED;
  static final int LANES = SPECIES.length();

  /**
   * Sum of the lanes of v in lane order (deterministic in every execution tier). The usual widths
   * name their lanes with constants: C2 turns {@code lane(constant)} into a register extract, while
   * {@code lane(i)} in a loop stays a call with a switch (it took a fifth of a SPEED run's samples).
   */
  static float sumLanes(FloatVector v) {
    switch (LANES) {
      case 4:
        return 0f + v.lane(0) + v.lane(1) + v.lane(2) + v.lane(3);
      case 8:
        return 0f + v.lane(0) + v.lane(1) + v.lane(2) + v.lane(3) + v.lane(4) + v.lane(5) + v.lane(6) + v.lane(7);
      case 16:
        return 0f + v.lane(0) + v.lane(1) + v.lane(2) + v.lane(3) + v.lane(4) + v.lane(5) + v.lane(6) + v.lane(7)
            + v.lane(8) + v.lane(9) + v.lane(10) + v.lane(11) + v.lane(12) + v.lane(13) + v.lane(14) + v.lane(15);
      default: {
        float sum = 0f;
        for (int i = 0; i < LANES; i++) sum += v.lane(i);
        return sum;
      }
    }
  }

  /** The end of one dot product: lane sum of its vector chain plus the scalar tail [kVec, k). */
  private static float finish(FloatVector acc, float[] x, int xBase, float[] w, int wBase, int kVec, int k) {
    float sum = sumLanes(acc);
    for (int j = kVec; j < k; j++) sum = Math.fma(x[xBase + j], w[wBase + j], sum);
    return sum;
  }

  /** One dot product of length k (the 1x1 tile; also used for attention scores). */
  static float dot(float[] x, int xBase, float[] w, int wBase, int k) {
    int kVec = SPECIES.loopBound(k);
    FloatVector acc = FloatVector.zero(SPECIES);
    for (int j = 0; j < kVec; j += LANES) {
      acc = FloatVector.fromArray(SPECIES, x, xBase + j).fma(FloatVector.fromArray(SPECIES, w, wBase + j), acc);
    }
    return finish(acc, x, xBase, w, wBase, kVec, k);
  }

  /**
   * Packs a weight matrix w [m][k] into column panels for {@link #matmulPanels}: panel p holds
   * output columns [p*LANES, (p+1)*LANES) as [k][LANES] (zero-padded past m), panels one after the
   * other, so a product streams the weights once, front to back, and one vector load gives LANES
   * output columns for one input feature.
   */
  public static float[] packPanels(float[] w, int m, int k) {
    int panels = (m + LANES - 1) / LANES;
    long size = (long) panels * k * LANES;
    if (size > Integer.MAX_VALUE - 16) throw new IllegalArgumentException("weight matrix too large to pack: " + m + "x" + k);
    float[] packed = new float[(int) size];
    for (int o = 0; o < m; o++) {
      int base = (o / LANES) * k * LANES + o % LANES;
      for (int j = 0; j < k; j++) packed[base + j * LANES] = w[o * k + j];
    }
    return packed;
  }

  /** Element (row o, column j) of a packed matrix (for gathers such as a tied embedding). */
  static float packedElement(float[] packed, int k, int o, int j) {
    return packed[(o / LANES) * k * LANES + j * LANES + o % LANES];
  }

  /** Rows per group of {@link #groupRows}: the block tiles take up to this many rows. */
  static final int GROUP = 4;

  /** Length of the array {@link #groupRows} fills for n rows of k features. */
  public static int groupedLength(int n, int k) {
    return (n + GROUP - 1) / GROUP * GROUP * k;
  }

  /**
   * Regroups x [n][k] for the block tiles of {@link #matmulPanels}: rows in groups of {@link #GROUP},
   * each group [k][GROUP] (feature j of the group's rows side by side; rows past n are zero), so the
   * tile's per-feature broadcasts come from one address and one index. Returns {@code into} when it
   * is long enough ({@link #groupedLength}), else a new array.
   */
  public static float[] groupRows(float[] x, int n, int k, float[] into) {
    int length = groupedLength(n, k);
    float[] grouped = into != null && into.length >= length ? into : new float[length];
    for (int g = 0; g * GROUP < n; g++) {
      int base = g * GROUP * k;
      for (int i = 0; i < GROUP; i++) {
        int row = g * GROUP + i;
        if (row < n) {
          for (int j = 0; j < k; j++) grouped[base + j * GROUP + i] = x[row * k + j];
        } else {
          for (int j = 0; j < k; j++) grouped[base + j * GROUP + i] = 0f;
        }
      }
    }
    return grouped;
  }

  /** {@link #matmulPanels(float[], float[], int, int, float[], int, float[], int, int)} grouping x itself. */
  public static void matmulPanels(float[] x, int n, int k, float[] packed, int m, float[] out, int p0, int p1) {
    matmulPanels(x, n > 1 ? groupRows(x, n, k, null) : null, n, k, packed, m, out, p0, p1);
  }

  /**
   * Panels [p0, p1) of out = x * w^T for all n rows, w packed by {@link #packPanels}. x: [n][k]
   * row-major; grouped: the same rows as {@link #groupRows} lays them out (unused, may be null, when
   * n = 1); out: [n][m] row-major.
   *
   * <p>Lanes map to output columns, so there is no horizontal reduction: each output is one chain
   * of fused multiply-adds over j = 0..k-1 in order, whatever the tile. Tiles: up to 4 rows x 2
   * panels (8 accumulators; per step 2 weight loads and 4 broadcasts, from one place in the grouped
   * rows, for 8 fused multiply-adds); groups of 4 rows walk the same panel pair while it is still in
   * cache, so the weights leave memory once per pass. A group's last single row and the decode row
   * read x itself. An odd last panel takes up to 8 rows at a time.
   * Reference: {@link ScalarOps#matmul} (whose sum runs in the same order without fusing).
   */
  public static void matmulPanels(float[] x, float[] grouped, int n, int k, float[] packed, int m, float[] out,
      int p0, int p1) {
    int panelSize = k * LANES;
    int p = p0;
    if (n == 1) {  // the decode row: four panels at a time, so four independent chains hide the FMA latency
      for (; p + 3 < p1; p += 4) tileOneRowFourPanels(x, k, packed, p * panelSize, m, out, p);
    }
    for (; p + 1 < p1; p += 2) {  // pairs of panels: 4 rows at a time share each pair of weight vectors
      for (int r = 0; r < n; r += GROUP) {
        int g = r * k;  // the group's base in the grouped rows
        switch (Math.min(GROUP, n - r)) {
          case 4 -> tileFourRowsTwoPanels(grouped, g, r, k, packed, p * panelSize, m, out, p);
          case 3 -> tileThreeRowsTwoPanels(grouped, g, r, k, packed, p * panelSize, m, out, p);
          case 2 -> tileTwoRowsTwoPanels(grouped, g, r, k, packed, p * panelSize, m, out, p);
          default -> tileOneRowTwoPanels(x, r, k, packed, p * panelSize, m, out, p);
        }
      }
    }
    for (; p < p1; p++) {  // an odd last panel
      for (int r = 0; r < n; r += 8) {
        int rows = Math.min(8, n - r);
        if (rows == 8) tileEightRows(x, r, k, packed, p * panelSize, m, out, p);
        else tileRowsOnePanel(x, r, rows, k, packed, p * panelSize, m, out, p);
      }
    }
  }

  /**
   * The decode tile: the one row, four adjacent panels. Two chains (the two-panel tile) leave the core
   * waiting on the fused multiply-add latency; four keep it busy. Each output is still one chain over
   * j in order, so it is bitwise what the other tiles give.
   */
  private static void tileOneRowFourPanels(float[] x, int k, float[] w, int wBase, int m, float[] out, int panel) {
    int w1 = wBase + k * LANES, w2 = w1 + k * LANES, w3 = w2 + k * LANES;
    FloatVector a = FloatVector.zero(SPECIES), b = a, c = a, d = a;
    for (int j = 0; j < k; j++) {
      FloatVector s = FloatVector.broadcast(SPECIES, x[j]);
      a = s.fma(FloatVector.fromArray(SPECIES, w, wBase + j * LANES), a);
      b = s.fma(FloatVector.fromArray(SPECIES, w, w1 + j * LANES), b);
      c = s.fma(FloatVector.fromArray(SPECIES, w, w2 + j * LANES), c);
      d = s.fma(FloatVector.fromArray(SPECIES, w, w3 + j * LANES), d);
    }
    store(a, out, 0, m, panel * LANES);
    store(b, out, 0, m, (panel + 1) * LANES);
    store(c, out, 0, m, (panel + 2) * LANES);
    store(d, out, 0, m, (panel + 3) * LANES);
  }

  /** One row (r), two panels: a block's row left over by the groups of four, or the decode row's last pair. */
  private static void tileOneRowTwoPanels(float[] x, int r, int k, float[] w, int wBase, int m, float[] out,
      int panel) {
    int next = wBase + k * LANES, x0 = r * k;
    FloatVector a = FloatVector.zero(SPECIES), b = a;
    for (int j = 0; j < k; j++) {
      FloatVector s = FloatVector.broadcast(SPECIES, x[x0 + j]);
      a = s.fma(FloatVector.fromArray(SPECIES, w, wBase + j * LANES), a);
      b = s.fma(FloatVector.fromArray(SPECIES, w, next + j * LANES), b);
    }
    store(a, out, r, m, panel * LANES);
    store(b, out, r, m, (panel + 1) * LANES);
  }

  /** Eight rows [r, r + 8) of one panel: one weight load feeds eight accumulators. */
  private static void tileEightRows(float[] x, int r, int k, float[] w, int wBase, int m, float[] out, int panel) {
    FloatVector a0 = FloatVector.zero(SPECIES), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    int x0 = r * k, x1 = x0 + k, x2 = x1 + k, x3 = x2 + k, x4 = x3 + k, x5 = x4 + k, x6 = x5 + k, x7 = x6 + k;
    for (int j = 0; j < k; j++) {
      FloatVector v = FloatVector.fromArray(SPECIES, w, wBase + j * LANES);
      a0 = FloatVector.broadcast(SPECIES, x[x0 + j]).fma(v, a0);
      a1 = FloatVector.broadcast(SPECIES, x[x1 + j]).fma(v, a1);
      a2 = FloatVector.broadcast(SPECIES, x[x2 + j]).fma(v, a2);
      a3 = FloatVector.broadcast(SPECIES, x[x3 + j]).fma(v, a3);
      a4 = FloatVector.broadcast(SPECIES, x[x4 + j]).fma(v, a4);
      a5 = FloatVector.broadcast(SPECIES, x[x5 + j]).fma(v, a5);
      a6 = FloatVector.broadcast(SPECIES, x[x6 + j]).fma(v, a6);
      a7 = FloatVector.broadcast(SPECIES, x[x7 + j]).fma(v, a7);
    }
    int column = panel * LANES;
    store(a0, out, r, m, column);
    store(a1, out, r + 1, m, column);
    store(a2, out, r + 2, m, column);
    store(a3, out, r + 3, m, column);
    store(a4, out, r + 4, m, column);
    store(a5, out, r + 5, m, column);
    store(a6, out, r + 6, m, column);
    store(a7, out, r + 7, m, column);
  }

  /** Rows [r, r + rows), rows <= 8, of one panel. */
  private static void tileRowsOnePanel(float[] x, int r, int rows, int k, float[] w, int wBase, int m, float[] out,
      int panel) {
    FloatVector a0 = FloatVector.zero(SPECIES), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    int x0 = r * k;
    for (int j = 0; j < k; j++) {
      FloatVector v = FloatVector.fromArray(SPECIES, w, wBase + j * LANES);
      a0 = FloatVector.broadcast(SPECIES, x[x0 + j]).fma(v, a0);
      if (rows > 1) a1 = FloatVector.broadcast(SPECIES, x[x0 + k + j]).fma(v, a1);
      if (rows > 2) a2 = FloatVector.broadcast(SPECIES, x[x0 + 2 * k + j]).fma(v, a2);
      if (rows > 3) a3 = FloatVector.broadcast(SPECIES, x[x0 + 3 * k + j]).fma(v, a3);
      if (rows > 4) a4 = FloatVector.broadcast(SPECIES, x[x0 + 4 * k + j]).fma(v, a4);
      if (rows > 5) a5 = FloatVector.broadcast(SPECIES, x[x0 + 5 * k + j]).fma(v, a5);
      if (rows > 6) a6 = FloatVector.broadcast(SPECIES, x[x0 + 6 * k + j]).fma(v, a6);
      if (rows > 7) a7 = FloatVector.broadcast(SPECIES, x[x0 + 7 * k + j]).fma(v, a7);
    }
    int column = panel * LANES;
    store(a0, out, r, m, column);
    if (rows > 1) store(a1, out, r + 1, m, column);
    if (rows > 2) store(a2, out, r + 2, m, column);
    if (rows > 3) store(a3, out, r + 3, m, column);
    if (rows > 4) store(a4, out, r + 4, m, column);
    if (rows > 5) store(a5, out, r + 5, m, column);
    if (rows > 6) store(a6, out, r + 6, m, column);
    if (rows > 7) store(a7, out, r + 7, m, column);
  }

  /**
   * Four rows [r, r + 4) of two adjacent panels, the block-mode tile. Each row count (1 to 4) has its
   * own tile, so no loop has per-row branches: a general tile with them was 7 to 10 % slower at 8
   * rows (single thread, one-process A/B runs), and the JIT recompiled it whenever a row count it had
   * not yet seen came along (a tandem refresh covers 1 to 8 rows). Same arithmetic, same order.
   */
  private static void tileFourRowsTwoPanels(float[] grouped, int g, int r, int k, float[] w, int wBase, int m,
      float[] out, int panel) {
    int next = wBase + k * LANES;
    FloatVector a0 = FloatVector.zero(SPECIES), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
    for (int j = 0; j < k; j++) {
      FloatVector v = FloatVector.fromArray(SPECIES, w, wBase + j * LANES);
      FloatVector u = FloatVector.fromArray(SPECIES, w, next + j * LANES);
      int xj = g + j * GROUP;
      FloatVector s0 = FloatVector.broadcast(SPECIES, grouped[xj]);
      FloatVector s1 = FloatVector.broadcast(SPECIES, grouped[xj + 1]);
      FloatVector s2 = FloatVector.broadcast(SPECIES, grouped[xj + 2]);
      FloatVector s3 = FloatVector.broadcast(SPECIES, grouped[xj + 3]);
      a0 = s0.fma(v, a0);
      b0 = s0.fma(u, b0);
      a1 = s1.fma(v, a1);
      b1 = s1.fma(u, b1);
      a2 = s2.fma(v, a2);
      b2 = s2.fma(u, b2);
      a3 = s3.fma(v, a3);
      b3 = s3.fma(u, b3);
    }
    int column = panel * LANES;
    store(a0, out, r, m, column);
    store(b0, out, r, m, column + LANES);
    store(a1, out, r + 1, m, column);
    store(b1, out, r + 1, m, column + LANES);
    store(a2, out, r + 2, m, column);
    store(b2, out, r + 2, m, column + LANES);
    store(a3, out, r + 3, m, column);
    store(b3, out, r + 3, m, column + LANES);
  }

  /** Two rows [r, r + 2) of two adjacent panels (a block of 4q + 2 rows ends with it). */
  private static void tileTwoRowsTwoPanels(float[] grouped, int g, int r, int k, float[] w, int wBase, int m,
      float[] out, int panel) {
    int next = wBase + k * LANES;
    FloatVector a0 = FloatVector.zero(SPECIES), a1 = a0, b0 = a0, b1 = a0;
    for (int j = 0; j < k; j++) {
      FloatVector v = FloatVector.fromArray(SPECIES, w, wBase + j * LANES);
      FloatVector u = FloatVector.fromArray(SPECIES, w, next + j * LANES);
      int xj = g + j * GROUP;
      FloatVector s0 = FloatVector.broadcast(SPECIES, grouped[xj]);
      FloatVector s1 = FloatVector.broadcast(SPECIES, grouped[xj + 1]);
      a0 = s0.fma(v, a0);
      b0 = s0.fma(u, b0);
      a1 = s1.fma(v, a1);
      b1 = s1.fma(u, b1);
    }
    int column = panel * LANES;
    store(a0, out, r, m, column);
    store(b0, out, r, m, column + LANES);
    store(a1, out, r + 1, m, column);
    store(b1, out, r + 1, m, column + LANES);
  }

  /** Three rows [r, r + 3) of two adjacent panels (a block of 4q + 3 rows ends with it). */
  private static void tileThreeRowsTwoPanels(float[] grouped, int g, int r, int k, float[] w, int wBase, int m,
      float[] out, int panel) {
    int next = wBase + k * LANES;
    FloatVector a0 = FloatVector.zero(SPECIES), a1 = a0, a2 = a0, b0 = a0, b1 = a0, b2 = a0;
    for (int j = 0; j < k; j++) {
      FloatVector v = FloatVector.fromArray(SPECIES, w, wBase + j * LANES);
      FloatVector u = FloatVector.fromArray(SPECIES, w, next + j * LANES);
      int xj = g + j * GROUP;
      FloatVector s0 = FloatVector.broadcast(SPECIES, grouped[xj]);
      FloatVector s1 = FloatVector.broadcast(SPECIES, grouped[xj + 1]);
      FloatVector s2 = FloatVector.broadcast(SPECIES, grouped[xj + 2]);
      a0 = s0.fma(v, a0);
      b0 = s0.fma(u, b0);
      a1 = s1.fma(v, a1);
      b1 = s1.fma(u, b1);
      a2 = s2.fma(v, a2);
      b2 = s2.fma(u, b2);
    }
    int column = panel * LANES;
    store(a0, out, r, m, column);
    store(b0, out, r, m, column + LANES);
    store(a1, out, r + 1, m, column);
    store(b1, out, r + 1, m, column + LANES);
    store(a2, out, r + 2, m, column);
    store(b2, out, r + 2, m, column + LANES);
  }

  /** Writes the LANES outputs of one accumulator to out[row][column..], dropping padded columns. */
  private static void store(FloatVector acc, float[] out, int row, int m, int column) {
    if (column + LANES <= m) {
      acc.intoArray(out, row * m + column);
    } else {
      for (int i = 0; column + i < m; i++) out[row * m + column + i] = acc.lane(i);
    }
  }

  /** One row of RMSNorm; reference {@link ScalarOps#rmsNorm}. */
  public static void rmsNorm(float[] x, int xOffset, float[] gain, float eps, int d, float[] out, int outOffset) {
    int dVec = SPECIES.loopBound(d);
    FloatVector acc = FloatVector.zero(SPECIES);
    for (int j = 0; j < dVec; j += LANES) {
      FloatVector v = FloatVector.fromArray(SPECIES, x, xOffset + j);
      acc = v.fma(v, acc);
    }
    float sumSquares = sumLanes(acc);
    for (int j = dVec; j < d; j++) sumSquares = Math.fma(x[xOffset + j], x[xOffset + j], sumSquares);
    float inverseRms = (float) (1.0 / Math.sqrt(sumSquares / d + eps));
    for (int j = 0; j < dVec; j += LANES) {
      FloatVector.fromArray(SPECIES, x, xOffset + j).mul(inverseRms)
          .mul(FloatVector.fromArray(SPECIES, gain, j)).intoArray(out, outOffset + j);
    }
    for (int j = dVec; j < d; j++) out[outOffset + j] = x[xOffset + j] * inverseRms * gain[j];
  }

  /** Rotary embedding of one row in place; reference {@link ScalarOps#rope}. */
  public static void rope(float[] x, int xOffset, int heads, int headDim, float[] cosSin, int cosSinOffset) {
    int half = headDim / 2;
    int halfVec = SPECIES.loopBound(half);
    for (int h = 0; h < heads; h++) {
      int base = xOffset + h * headDim;
      for (int i = 0; i < halfVec; i += LANES) {
        FloatVector cos = FloatVector.fromArray(SPECIES, cosSin, cosSinOffset + i);
        FloatVector sin = FloatVector.fromArray(SPECIES, cosSin, cosSinOffset + half + i);
        FloatVector a = FloatVector.fromArray(SPECIES, x, base + i);
        FloatVector b = FloatVector.fromArray(SPECIES, x, base + half + i);
        a.mul(cos).sub(b.mul(sin)).intoArray(x, base + i);
        b.mul(cos).add(a.mul(sin)).intoArray(x, base + half + i);
      }
      for (int i = halfVec; i < half; i++) {
        float cos = cosSin[cosSinOffset + i];
        float sin = cosSin[cosSinOffset + half + i];
        float a = x[base + i];
        float b = x[base + half + i];
        x[base + i] = a * cos - b * sin;
        x[base + half + i] = b * cos + a * sin;
      }
    }
  }

  /**
   * Attention of one query head over {@code length} cached positions; reference
   * {@link ScalarOps#attention} (which does all heads of a row).
   *
   * <p>Each score is {@link #dot} of the query and one key (one vector chain, lanes summed in order,
   * then the scalar tail) times the scale; each output vector is one chain of fused multiply-adds over
   * the positions in order. Four keys' dot products, and up to four output vectors, run side by side
   * (independent chains, so the FMA latency overlaps); each chain is exactly the one it would be
   * alone, so a row's result does not depend on how many rows or keys there are around it.
   *
   * @param q       query head at qBase, [headDim]
   * @param keys    the slot's keys, [length][kvDim], this head's key/value head at kvBase + t * kvDim
   * @param out     [headDim] at outBase
   * @param scores  scratch, at least {@code length}
   */
  public static void attendHead(float[] q, int qBase, float[] keys, float[] values, int kvBase, int kvDim,
      int length, int headDim, float scale, float[] out, int outBase, float[] scores) {
    scores(q, qBase, keys, kvBase, kvDim, length, headDim, scale, scores);
    float max = Float.NEGATIVE_INFINITY;
    for (int t = 0; t < length; t++) max = Math.max(max, scores[t]);
    float sum = 0f;
    for (int t = 0; t < length; t++) {
      float e = (float) Math.exp(scores[t] - max);
      scores[t] = e;
      sum += e;
    }
    weightedValues(scores, values, kvBase, kvDim, length, headDim, 1f / sum, out, outBase);
  }

  /** scores[t] = dot(q, key t) * scale for t in [0, length), four keys at a time. */
  private static void scores(float[] q, int qBase, float[] keys, int kvBase, int kvDim, int length, int headDim,
      float scale, float[] scores) {
    int dVec = SPECIES.loopBound(headDim);
    int t = 0;
    for (; t + 4 <= length; t += 4) {
      int k0 = kvBase + t * kvDim, k1 = k0 + kvDim, k2 = k1 + kvDim, k3 = k2 + kvDim;
      FloatVector a0 = FloatVector.zero(SPECIES), a1 = a0, a2 = a0, a3 = a0;
      for (int j = 0; j < dVec; j += LANES) {
        FloatVector x = FloatVector.fromArray(SPECIES, q, qBase + j);
        a0 = x.fma(FloatVector.fromArray(SPECIES, keys, k0 + j), a0);
        a1 = x.fma(FloatVector.fromArray(SPECIES, keys, k1 + j), a1);
        a2 = x.fma(FloatVector.fromArray(SPECIES, keys, k2 + j), a2);
        a3 = x.fma(FloatVector.fromArray(SPECIES, keys, k3 + j), a3);
      }
      scores[t] = finish(a0, q, qBase, keys, k0, dVec, headDim) * scale;
      scores[t + 1] = finish(a1, q, qBase, keys, k1, dVec, headDim) * scale;
      scores[t + 2] = finish(a2, q, qBase, keys, k2, dVec, headDim) * scale;
      scores[t + 3] = finish(a3, q, qBase, keys, k3, dVec, headDim) * scale;
    }
    for (; t < length; t++) scores[t] = dot(q, qBase, keys, kvBase + t * kvDim, headDim) * scale;
  }

  /** out[j] = inverseSum * sum over t of weights[t] * value t [j], four output vectors at a time. */
  private static void weightedValues(float[] weights, float[] values, int kvBase, int kvDim, int length,
      int headDim, float inverseSum, float[] out, int outBase) {
    int dVec = SPECIES.loopBound(headDim);
    int j = 0;
    for (; j + 4 * LANES <= dVec; j += 4 * LANES) {
      FloatVector a0 = FloatVector.zero(SPECIES), a1 = a0, a2 = a0, a3 = a0;
      for (int t = 0; t < length; t++) {
        FloatVector w = FloatVector.broadcast(SPECIES, weights[t]);
        int base = kvBase + t * kvDim + j;
        a0 = FloatVector.fromArray(SPECIES, values, base).fma(w, a0);
        a1 = FloatVector.fromArray(SPECIES, values, base + LANES).fma(w, a1);
        a2 = FloatVector.fromArray(SPECIES, values, base + 2 * LANES).fma(w, a2);
        a3 = FloatVector.fromArray(SPECIES, values, base + 3 * LANES).fma(w, a3);
      }
      a0.mul(inverseSum).intoArray(out, outBase + j);
      a1.mul(inverseSum).intoArray(out, outBase + j + LANES);
      a2.mul(inverseSum).intoArray(out, outBase + j + 2 * LANES);
      a3.mul(inverseSum).intoArray(out, outBase + j + 3 * LANES);
    }
    for (; j < dVec; j += LANES) {
      FloatVector acc = FloatVector.zero(SPECIES);
      for (int t = 0; t < length; t++) {
        acc = FloatVector.fromArray(SPECIES, values, kvBase + t * kvDim + j).fma(FloatVector.broadcast(SPECIES, weights[t]), acc);
      }
      acc.mul(inverseSum).intoArray(out, outBase + j);
    }
    for (; j < headDim; j++) {
      float acc = 0f;
      for (int t = 0; t < length; t++) acc = Math.fma(values[kvBase + t * kvDim + j], weights[t], acc);
      out[outBase + j] = acc * inverseSum;
    }
  }

  /**
   * out = silu(gate) * up over [offset, offset + n); reference {@link ScalarOps#swiglu}. Scalar on
   * purpose: the Vector API's lanewise EXP may round differently from {@link Math#exp} (and between
   * execution tiers), which would break batch invariance; the exponentials are a small part of a
   * layer's cost.
   */
  public static void swiglu(float[] gate, float[] up, float[] out, int offset, int n) {
    for (int i = offset; i < offset + n; i++) out[i] = ScalarOps.silu(gate[i]) * up[i];
  }

  /** x += delta over [offset, offset + n). */
  public static void add(float[] x, float[] delta, int offset, int n) {
    int end = offset + n;
    int i = offset;
    for (int vecEnd = offset + SPECIES.loopBound(n); i < vecEnd; i += LANES) {
      FloatVector.fromArray(SPECIES, x, i).add(FloatVector.fromArray(SPECIES, delta, i)).intoArray(x, i);
    }
    for (; i < end; i++) x[i] += delta[i];
  }

  /** x[xOffset + j] += bias[j] for j in [0, d); reference {@link ScalarOps#addBias}. */
  public static void addBias(float[] x, int xOffset, float[] bias, int d) {
    int j = 0;
    for (int vecEnd = SPECIES.loopBound(d); j < vecEnd; j += LANES) {
      FloatVector.fromArray(SPECIES, x, xOffset + j).add(FloatVector.fromArray(SPECIES, bias, j))
          .intoArray(x, xOffset + j);
    }
    for (; j < d; j++) x[xOffset + j] += bias[j];
  }
}
