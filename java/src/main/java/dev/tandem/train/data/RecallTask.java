package dev.tandem.train.data;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Associative recall, the controlled task on which a one-layer model and a multi-layer model differ
 * by construction (an induction head needs two attention layers composed; Olsson et al., 2022).
 *
 * <p>One sequence is one line of text, written with words that the task's tokenizer keeps whole (one
 * token each, see {@link WordVocabulary}):
 * <pre>
 *   | k17 v42 k3 v9 ... k8 v1 k3 v9 ... k8 v1 k17 v42 k3 ...
 *   ^ marker, then random key-value pairs (their number drawn per line), then the same pairs again
 *     from a random starting pair, in order and wrapping around, until the line has {@code length} tokens
 * </pre>
 * Keys are drawn without replacement from {@code k0 .. k(keys-1)}, values without replacement from
 * {@code v0 .. v(values-1)}, so every key and every value occurs once in the first section: after the
 * first repeated key, every token is determined by the context (a value follows its key, a key follows
 * the value before it), and before it no token is (the first section is random, and so is the repeat's
 * starting pair). {@code length} counts the line's tokens with its marker and its newline, so a file of
 * lines packs into training sequences of exactly {@code length} tokens that start at a marker.
 *
 * <p>The text depends only on the options and the seed. The marker keeps the first key of a line
 * preceded by a space like every other word (the tokenizer's words are {@code " ?\S+"}).
 */
public final class RecallTask {
  /** The shape models/recall was trained on (scripts/train-recall.sh; tandem data recall's defaults). */
  public static final Options DEFAULTS = new Options(24, 24, 6, 12, 96);

  /** The seed of the held-out prompts of models/recall/MODEL_CARD.md and {@code tandem demo --task recall}. */
  public static final long PROMPT_SEED = 4;

  /** The word that starts every line. */
  public static final String MARKER = "|";

  /**
   * The task's shape: each line draws its number of pairs uniformly from {@code minPairs..maxPairs}, so
   * that the repeat's period (2 x pairs tokens) differs from line to line and a one-layer model cannot copy
   * the token one period back by position alone (RoPE lets one attention head look a fixed distance back;
   * with one period for every line that alone would predict the repeat from its second cycle on).
   */
  public record Options(int keys, int values, int minPairs, int maxPairs, int length) {
    public Options {
      if (minPairs < 2) throw new IllegalArgumentException("--pairs must be >= 2, got " + minPairs);
      if (maxPairs < minPairs) {
        throw new IllegalArgumentException("--max-pairs (" + maxPairs + ") must be >= --pairs (" + minPairs + ")");
      }
      if (keys < maxPairs) {
        throw new IllegalArgumentException("--keys (" + keys + ") must be >= the pairs (" + maxPairs + ")");
      }
      if (values < maxPairs) {
        throw new IllegalArgumentException("--values (" + values + ") must be >= the pairs (" + maxPairs + ")");
      }
      if (length < 2 * maxPairs + 4) {
        throw new IllegalArgumentException("--length " + length + " leaves no repeat: it must be >= 2 x the pairs + 4 ("
            + (2 * maxPairs + 4) + ": the marker, the pairs, two repeated words and the newline)");
      }
    }

    /** Every line with the same number of pairs. */
    public Options(int keys, int values, int pairs, int length) {
      this(keys, values, pairs, pairs, length);
    }

    /** Words of the repeat section of a line of {@code pairs} pairs. */
    public int repeatWords(int pairs) {
      return length - 2 - 2 * pairs;
    }
  }

  private RecallTask() {}

  public static String key(int i) {
    return "k" + i;
  }

  public static String value(int i) {
    return "v" + i;
  }

  /** Every word the task can write (keys, then values), without the marker. */
  public static List<String> words(Options o) {
    List<String> out = new ArrayList<>();
    for (int i = 0; i < o.keys(); i++) out.add(key(i));
    for (int i = 0; i < o.values(); i++) out.add(value(i));
    return out;
  }

  /** The lines of {@code sequences} sequences (no newline at their ends), deterministic in the seed. */
  public static List<String> generate(Options o, long seed, int sequences) {
    if (sequences < 1) throw new IllegalArgumentException("--sequences must be >= 1, got " + sequences);
    SplittableRandom random = new SplittableRandom(seed);
    List<String> lines = new ArrayList<>(sequences);
    for (int s = 0; s < sequences; s++) lines.add(line(o, random));
    return lines;
  }

  /** One line, drawing from {@code random}. */
  static String line(Options o, SplittableRandom random) {
    int pairs = o.minPairs() + random.nextInt(o.maxPairs() - o.minPairs() + 1);
    int[] keys = draw(o.keys(), pairs, random);
    int[] values = draw(o.values(), pairs, random);
    StringBuilder b = new StringBuilder(MARKER);
    for (int i = 0; i < pairs; i++) b.append(' ').append(key(keys[i])).append(' ').append(value(values[i]));
    int start = random.nextInt(pairs);
    for (int w = 0; w < o.repeatWords(pairs); w++) {
      int pair = (start + w / 2) % pairs;
      b.append(' ').append(w % 2 == 0 ? key(keys[pair]) : value(values[pair]));
    }
    return b.toString();
  }

  /** The first {@code k} of a random permutation of 0..n-1 (a partial Fisher-Yates shuffle). */
  private static int[] draw(int n, int k, SplittableRandom random) {
    int[] p = new int[n];
    for (int i = 0; i < n; i++) p[i] = i;
    for (int i = 0; i < k; i++) {
      int j = i + random.nextInt(n - i);
      int t = p[i];
      p[i] = p[j];
      p[j] = t;
    }
    return java.util.Arrays.copyOf(p, k);
  }

  /**
   * Which tokens of one sequence the context determines: {@code out[i]} for token i, predicted from
   * tokens 0..i-1. A token is determined when it comes after the first token that repeats an earlier one
   * (in a recall line: after the repeat's first key); everything up to and including that token is
   * not. The rule reads token ids only, so it holds for any tokenizer that keeps each word one token.
   */
  public static boolean[] determined(int[] tokens) {
    boolean[] out = new boolean[tokens.length];
    int firstRepeat = firstRepeat(tokens);
    if (firstRepeat < 0) return out;
    for (int i = firstRepeat + 1; i < tokens.length; i++) out[i] = true;
    return out;
  }

  /** The index of the first token that repeats an earlier one (in a recall line: the repeat's first key), or -1. */
  public static int firstRepeat(int[] tokens) {
    java.util.Set<Integer> seen = new java.util.HashSet<>();
    for (int i = 0; i < tokens.length; i++) if (!seen.add(tokens[i])) return i;
    return -1;
  }

  /**
   * A prompt that ends inside the repeat: the line up to and with the repeat's first {@code repeatWords}
   * words (the primary continues the repeat from there). A line without a repeat is refused.
   */
  public static int[] prompt(int[] line, int repeatWords) {
    int r = firstRepeat(line);
    if (r < 0) throw new IllegalArgumentException("a prompt line has no repeat (is it tandem data recall text?)");
    if (r + repeatWords > line.length) {
      throw new IllegalArgumentException("a prompt line has fewer than " + repeatWords + " repeated words");
    }
    return java.util.Arrays.copyOf(line, r + repeatWords);
  }
}
