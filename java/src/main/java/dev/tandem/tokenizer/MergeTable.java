package dev.tandem.tokenizer;

import java.util.Arrays;

/**
 * The merges of a BPE model: {@code (left id, right id) -> rank -> merged id}, with an open-addressing
 * hash table on primitive arrays for the first step (looked up for every adjacent pair while encoding). Rank is the
 * position in the merge list; lower ranks are applied first. A pair listed twice keeps its first rank.
 */
final class MergeTable {
  private final long[] keys; // [capacity] left << 32 | right, or EMPTY
  private final int[] ranks; // [capacity]
  private final int mask;
  private final int[] left; // [rank]
  private final int[] right; // [rank]
  private final int[] result; // [rank]
  private static final long EMPTY = -1L;

  /** @param merges [rank] = {left id, right id, merged id} */
  MergeTable(int[][] merges) {
    int capacity = Integer.highestOneBit(Math.max(4, merges.length * 2 + 1)) << 1;
    keys = new long[capacity];
    ranks = new int[capacity];
    mask = capacity - 1;
    Arrays.fill(keys, EMPTY);
    left = new int[merges.length];
    right = new int[merges.length];
    result = new int[merges.length];
    for (int r = 0; r < merges.length; r++) {
      left[r] = merges[r][0];
      right[r] = merges[r][1];
      result[r] = merges[r][2];
      long key = key(left[r], right[r]);
      int slot = slot(key);
      if (keys[slot] == EMPTY) {
        keys[slot] = key;
        ranks[slot] = r;
      }
    }
  }

  int size() {
    return left.length;
  }

  int left(int rank) {
    return left[rank];
  }

  int right(int rank) {
    return right[rank];
  }

  int result(int rank) {
    return result[rank];
  }

  /** Rank of merging {@code a} then {@code b}, or -1 when no merge applies. */
  int rank(int a, int b) {
    long key = key(a, b);
    int slot = slot(key);
    return keys[slot] == key ? ranks[slot] : -1;
  }

  /** Slot holding {@code key}, or the empty slot where it would go. */
  private int slot(long key) {
    int h = (int) (key * 0x9E3779B97F4A7C15L >>> 32) & mask;
    while (keys[h] != EMPTY && keys[h] != key) h = (h + 1) & mask;
    return h;
  }

  private static long key(int a, int b) {
    return (long) a << 32 | (b & 0xFFFFFFFFL);
  }
}
