package dev.tandem.tokenizer;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.zip.GZIPInputStream;

/**
 * Learns byte-level BPE merges from text.
 *
 * <p>The vocabulary: ids 0..255 are the single bytes (id = byte value, always all present), then the
 * merged tokens in the order they were learnt, then the special tokens in the order given, like
 * GPT-2's {@code <|endoftext|>} at the end. {@code vocabSize} counts all three. Training stops early,
 * with a smaller vocabulary, when no pair occurs {@link #minPairCount} times any more.
 *
 * <p>The algorithm: pre-tokenize every text as {@link ByteLevelBpeTokenizer} does (special tokens in
 * the text are cut out first and never counted), count each distinct piece ("word"), then repeat: take
 * the most frequent adjacent pair of symbols over all words (weighted by word count), make it a new
 * token, and update the pair counts of only the words that contain it. A max-heap holds the pair
 * counts; an entry whose count has changed since it was pushed is dropped when popped (every change
 * pushes a fresh entry).
 *
 * <p>Deterministic: ties in pair count go to the pair whose left token's bytes are smallest (unsigned,
 * lexicographic), then whose right token's bytes are. Counts are sums, so the result depends neither
 * on hash order nor on the order of the files or texts.
 */
public final class BpeTrainer {
  /** Told how training advances, for a progress bar. Called once per new token; keep it cheap. */
  @FunctionalInterface
  public interface Progress {
    void update(int tokensDone, int tokensTotal);
  }

  private final int vocabSize;
  private final List<String> specialTokens;
  private int minPairCount = 2;
  private Progress progress = (done, total) -> {};

  /**
   * @param vocabSize the size of the vocabulary, bytes and special tokens included
   * @param specialTokens tokens matched literally and never split, given the highest ids
   */
  public BpeTrainer(int vocabSize, List<String> specialTokens) {
    this.specialTokens = List.copyOf(specialTokens);
    ByteLevelBpeTokenizer.specials(256, this.specialTokens); // rejects empty and repeated ones
    if (vocabSize < 256 + this.specialTokens.size()) {
      throw new IllegalArgumentException("vocabSize " + vocabSize + " is too small: it must be at least "
          + (256 + this.specialTokens.size()) + " (256 byte tokens + " + this.specialTokens.size()
          + " special tokens)");
    }
    this.vocabSize = vocabSize;
  }

  /** Only pairs that occur at least this often are merged (default 2: a pair seen once is not worth a token). */
  public BpeTrainer minPairCount(int count) {
    if (count < 1) throw new IllegalArgumentException("minPairCount must be >= 1, got " + count);
    this.minPairCount = count;
    return this;
  }

  public BpeTrainer progress(Progress progress) {
    this.progress = progress;
    return this;
  }

  /** Trains on text files (UTF-8; a name ending in {@code .gz} is gunzipped). Each file is one text. */
  public ByteLevelBpeTokenizer train(List<Path> files) throws IOException {
    WordCounter counter = new WordCounter();
    for (Path file : files) {
      byte[] bytes;
      if (file.getFileName().toString().endsWith(".gz")) {
        try (InputStream in = new GZIPInputStream(Files.newInputStream(file), 1 << 16)) {
          bytes = in.readAllBytes();
        }
      } else {
        bytes = Files.readAllBytes(file);
      }
      counter.add(bytes);
    }
    return train(counter);
  }

  /** Trains on texts; each is pre-tokenized on its own (no piece spans two texts). */
  public ByteLevelBpeTokenizer train(Iterable<String> texts) {
    WordCounter counter = new WordCounter();
    for (String text : texts) counter.add(Utf8.encode(text));
    return train(counter);
  }

  /** Counts the distinct pieces of the texts, as the tokenizer will cut them. */
  private final class WordCounter {
    private final ByteLevelBpeTokenizer splitter = ByteLevelBpeTokenizer.bytes(specialTokens);
    private final Map<String, long[]> counts = new HashMap<>(); // latin-1 of piece bytes -> {count}

    void add(byte[] text) {
      splitter.segment(text, new ByteLevelBpeTokenizer.Pieces() {
        @Override
        public void piece(byte[] b, int from, int to) {
          if (to - from < 2) return; // no pair inside: nothing to learn
          counts.computeIfAbsent(ByteLevel.latin1(b, from, to), k -> new long[1])[0]++;
        }

        @Override
        public void added(int id) {}
      });
    }
  }

  /** Statistics of one pair of adjacent symbols. */
  private static final class PairStats {
    final int left;
    final int right;
    long count; // occurrences, weighted by word count
    int[] words = new int[4]; // words that contained the pair when it was counted; may be stale
    int wordCount;
    int lastWord = -1; // last word appended, to avoid immediate repeats
    int lastChange = -1; // merge step of the last count change, to push one heap entry per step

    PairStats(int left, int right) {
      this.left = left;
      this.right = right;
    }

    void addWord(int w) {
      if (w == lastWord) return;
      if (wordCount == words.length) words = Arrays.copyOf(words, wordCount * 2);
      words[wordCount++] = w;
      lastWord = w;
    }
  }

  private record HeapEntry(long count, PairStats pair) {}

  private ByteLevelBpeTokenizer train(WordCounter counter) {
    // Words in a fixed order (sorted), so that everything below is reproducible.
    String[] keys = counter.counts.keySet().toArray(new String[0]);
    Arrays.sort(keys);
    int nWords = keys.length;
    int[][] symbols = new int[nWords][]; // [word][symbol] token ids
    int[] lengths = new int[nWords];
    long[] freq = new long[nWords];
    for (int w = 0; w < nWords; w++) {
      String k = keys[w];
      symbols[w] = new int[k.length()];
      for (int i = 0; i < k.length(); i++) symbols[w][i] = k.charAt(i); // latin-1 char = byte = id
      lengths[w] = k.length();
      freq[w] = counter.counts.get(k)[0];
    }
    counter.counts.clear();

    List<byte[]> tokenBytes = new ArrayList<>(); // [id] bytes of each model token
    Map<String, Integer> idOfBytes = new HashMap<>(); // latin-1 of token bytes -> id
    for (int b = 0; b < 256; b++) {
      tokenBytes.add(new byte[] {(byte) b});
      idOfBytes.put(String.valueOf((char) b), b);
    }

    Map<Long, PairStats> pairs = new HashMap<>();
    for (int w = 0; w < nWords; w++) {
      for (int i = 0; i + 1 < lengths[w]; i++) {
        PairStats p = pairs.computeIfAbsent(key(symbols[w][i], symbols[w][i + 1]),
            k -> new PairStats((int) (k >>> 32), (int) (long) k));
        p.count += freq[w];
        p.addWord(w);
      }
    }
    PriorityQueue<HeapEntry> heap = new PriorityQueue<>((x, y) -> {
      if (x.count != y.count) return Long.compare(y.count, x.count);
      int c = Arrays.compareUnsigned(tokenBytes.get(x.pair.left), tokenBytes.get(y.pair.left));
      if (c != 0) return c;
      return Arrays.compareUnsigned(tokenBytes.get(x.pair.right), tokenBytes.get(y.pair.right));
    });
    for (PairStats p : pairs.values()) heap.add(new HeapEntry(p.count, p));

    int target = vocabSize - specialTokens.size(); // model tokens wanted
    int total = target - 256;
    List<int[]> merges = new ArrayList<>();
    int[] wordSeen = new int[nWords]; // [word] last merge step that processed it, plus one
    List<PairStats> changed = new ArrayList<>();
    int step = 0;
    while (tokenBytes.size() < target && !heap.isEmpty()) {
      HeapEntry top = heap.poll();
      PairStats best = top.pair;
      if (top.count != best.count) continue; // stale: a fresher entry exists, or the count is 0
      if (best.count < minPairCount) break;
      step++;
      int a = best.left;
      int b = best.right;
      byte[] ab = concat(tokenBytes.get(a), tokenBytes.get(b));
      String abKey = ByteLevel.latin1(ab, 0, ab.length);
      Integer existing = idOfBytes.get(abKey); // another merge may have made the same bytes already
      int z;
      if (existing != null) {
        z = existing;
      } else {
        z = tokenBytes.size();
        tokenBytes.add(ab);
        idOfBytes.put(abKey, z);
        progress.update(z + 1 - 256, total);
      }
      merges.add(new int[] {a, b, z});

      changed.clear();
      for (int k = 0; k < best.wordCount; k++) {
        int w = best.words[k];
        if (wordSeen[w] == step) continue;
        wordSeen[w] = step;
        int[] s = symbols[w];
        int n = lengths[w];
        long f = freq[w];
        for (int i = 0; i + 1 < n; i++) {
          if (s[i] != a || s[i + 1] != b) continue;
          if (i > 0) {
            update(pairs, s[i - 1], a, -f, w, step, changed);
            update(pairs, s[i - 1], z, f, w, step, changed);
          }
          if (i + 2 < n) {
            update(pairs, b, s[i + 2], -f, w, step, changed);
            update(pairs, z, s[i + 2], f, w, step, changed);
          }
          best.count -= f;
          s[i] = z;
          System.arraycopy(s, i + 2, s, i + 1, n - i - 2);
          n--;
        }
        lengths[w] = n;
      }
      pairs.remove(key(a, b));
      best.count = 0;
      best.words = null;
      for (PairStats p : changed) {
        if (p.count > 0) heap.add(new HeapEntry(p.count, p));
        else if (p.count == 0) pairs.remove(key(p.left, p.right));
      }
    }

    String[] modelTokens = new String[tokenBytes.size()];
    for (int id = 0; id < modelTokens.length; id++) modelTokens[id] = ByteLevel.encode(tokenBytes.get(id));
    return new ByteLevelBpeTokenizer(modelTokens, merges.toArray(new int[0][]),
        ByteLevelBpeTokenizer.specials(modelTokens.length, specialTokens), new Gpt2PreTokenizer(), false,
        false);
  }

  private static void update(Map<Long, PairStats> pairs, int left, int right, long delta, int word, int step,
      List<PairStats> changed) {
    PairStats p = pairs.computeIfAbsent(key(left, right), k -> new PairStats(left, right));
    p.count += delta;
    if (delta > 0) p.addWord(word);
    if (p.lastChange != step) {
      p.lastChange = step;
      changed.add(p);
    }
  }

  private static long key(int left, int right) {
    return (long) left << 32 | right;
  }

  private static byte[] concat(byte[] x, byte[] y) {
    byte[] out = Arrays.copyOf(x, x.length + y.length);
    System.arraycopy(y, 0, out, x.length, y.length);
    return out;
  }
}
