package dev.tandem.tokenizer;

import java.util.Arrays;

/**
 * Applies BPE merges to the symbols of one piece: lowest rank first, leftmost first among equal
 * ranks (the order of the {@code tokenizers} library). Two versions: a plain quadratic one, the
 * reference and fastest for short pieces, and a heap-based one for long pieces.
 */
final class BpeMerge {
  private BpeMerge() {}

  /**
   * The reference merge: repeatedly find the lowest-rank adjacent pair (leftmost among equals) and
   * merge it. O(n^2) per piece, fastest for short pieces. Works in place; returns the new length.
   */
  static int quadratic(int[] sym, int n, MergeTable merges) {
    while (n > 1) {
      int best = Integer.MAX_VALUE;
      int pos = -1;
      for (int i = 0; i + 1 < n; i++) {
        int r = merges.rank(sym[i], sym[i + 1]);
        if (r >= 0 && r < best) {
          best = r;
          pos = i;
        }
      }
      if (pos < 0) break;
      sym[pos] = merges.result(best);
      System.arraycopy(sym, pos + 2, sym, pos + 1, n - pos - 2);
      n--;
    }
    return n;
  }

  /**
   * The same merges as {@link #quadratic} in O(n log n): the symbols form a linked list and a
   * min-heap holds candidate pairs keyed by (rank, position); entries made stale by earlier merges are
   * skipped when popped. Works in place; returns the new length.
   */
  static int withHeap(int[] sym, int n, MergeTable merges) {
    int[] next = new int[n]; // [n] index of the next live symbol, n at the end
    int[] prev = new int[n]; // [n] index of the previous live symbol, -1 at the start
    LongMinHeap heap = new LongMinHeap(2 * n);
    for (int i = 0; i < n; i++) {
      next[i] = i + 1;
      prev[i] = i - 1;
      if (i + 1 < n) {
        int r = merges.rank(sym[i], sym[i + 1]);
        if (r >= 0) heap.push((long) r << 32 | i);
      }
    }
    while (!heap.isEmpty()) {
      long e = heap.pop();
      int r = (int) (e >>> 32);
      int p = (int) e;
      if (sym[p] < 0) continue;
      int q = next[p];
      if (q >= n || merges.rank(sym[p], sym[q]) != r) continue;
      sym[p] = merges.result(r);
      sym[q] = -1;
      next[p] = next[q];
      if (next[q] < n) prev[next[q]] = p;
      if (prev[p] >= 0) {
        int r2 = merges.rank(sym[prev[p]], sym[p]);
        if (r2 >= 0) heap.push((long) r2 << 32 | prev[p]);
      }
      if (next[p] < n) {
        int r2 = merges.rank(sym[p], sym[next[p]]);
        if (r2 >= 0) heap.push((long) r2 << 32 | p);
      }
    }
    int len = 0;
    for (int i = 0; i < n; i = next[i]) sym[len++] = sym[i];
    return len;
  }

  /** A binary min-heap of longs. */
  private static final class LongMinHeap {
    private long[] a;
    private int size;

    LongMinHeap(int capacity) {
      a = new long[Math.max(4, capacity)];
    }

    boolean isEmpty() {
      return size == 0;
    }

    void push(long v) {
      if (size == a.length) a = Arrays.copyOf(a, size * 2);
      int i = size++;
      while (i > 0) {
        int parent = (i - 1) >>> 1;
        if (a[parent] <= v) break;
        a[i] = a[parent];
        i = parent;
      }
      a[i] = v;
    }

    long pop() {
      long top = a[0];
      long v = a[--size];
      int i = 0;
      while (true) {
        int c = 2 * i + 1;
        if (c >= size) break;
        if (c + 1 < size && a[c + 1] < a[c]) c++;
        if (a[c] >= v) break;
        a[i] = a[c];
        i = c;
      }
      a[i] = v;
      return top;
    }
  }
}
