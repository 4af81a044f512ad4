package dev.tandem.train;

/** Token embedding lookup and its gradient (a scatter-add into the table, in row order). */
public final class EmbeddingOp {
  private EmbeddingOp() {}

  /** out[i] = table[tokens[i]]. table: [V][d], out: [rows][d]. */
  public static void forward(float[] table, int vocab, int d, int[] tokens, int rows, float[] out) {
    for (int i = 0; i < rows; i++) {
      int token = tokens[i];
      if (token < 0 || token >= vocab) {
        throw new IllegalArgumentException("token id " + token + " outside the vocabulary [0, " + vocab + ")");
      }
      System.arraycopy(table, token * d, out, i * d, d);
    }
  }

  /** dTable[tokens[i]] += dOut[i]. */
  public static void backward(float[] dOut, int d, int[] tokens, int rows, float[] dTable) {
    for (int i = 0; i < rows; i++) {
      int at = tokens[i] * d, src = i * d;
      for (int j = 0; j < d; j++) dTable[at + j] += dOut[src + j];
    }
  }
}
