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
 *   ^ marker, then {@code pairs} random key-value pairs, then the same pairs again from a random
 *     starting pair, in order and wrapping around, until the line has {@code length} tokens
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
  public static final Options DEFAULTS = new Options(64, 64, 16, 128);

  /** The seed of the held-out prompts of models/recall/MODEL_CARD.md and {@code tandem demo --task recall}. */
  public static final long PROMPT_SEED = 4;

  /** The word that starts every line. */
  public static final String MARKER = "|";

  /** The task's shape. */
  public record Options(int keys, int values, int pairs, int length) {
    public Options {
      if (pairs < 2) throw new IllegalArgumentException("--pairs must be >= 2, got " + pairs);
      if (keys < pairs) throw new IllegalArgumentException("--keys (" + keys + ") must be >= --pairs (" + pairs + ")");
      if (values < pairs) {
        throw new IllegalArgumentException("--values (" + values + ") must be >= --pairs (" + pairs + ")");
      }
      if (length < 2 * pairs + 4) {
        throw new IllegalArgumentException("--length " + length + " leaves no repeat: it must be >= 2 x --pairs + 4 ("
            + (2 * pairs + 4) + ": the marker, the pairs, two repeated words and the newline)");
      }
    }

    /** Words of the repeat section of a line. */
    public int repeatWords() {
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
    int[] keys = draw(o.keys(), o.pairs(), random);
    int[] values = draw(o.values(), o.pairs(), random);
    StringBuilder b = new StringBuilder(MARKER);
    for (int i = 0; i < o.pairs(); i++) b.append(' ').append(key(keys[i])).append(' ').append(value(values[i]));
    int start = random.nextInt(o.pairs());
    for (int w = 0; w < o.repeatWords(); w++) {
      int pair = (start + w / 2) % o.pairs();
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
    java.util.Set<Integer> seen = new java.util.HashSet<>();
    int firstRepeat = -1;
    for (int i = 0; i < tokens.length; i++) {
      if (!seen.add(tokens[i])) {
        firstRepeat = i;
        break;
      }
    }
    if (firstRepeat < 0) return out;
    for (int i = firstRepeat + 1; i < tokens.length; i++) out[i] = true;
    return out;
  }
}
