package dev.tandem.tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.PriorityQueue;

/**
 * SentencePiece-style BPE with byte fallback, as Llama 2 (and TinyLlama, Mistral 7B v0.1) use it.
 *
 * <p>Encoding, in order: (1) special tokens (control, user-defined and unknown tokens) are found
 * literally in the text, leftmost and longest first, and become their ids; (2) each stretch of text
 * between them gets a space in front when {@code addSpacePrefix} is on (Llama's "legacy" behaviour:
 * at the start of the text and after every special token) and every space becomes {@code ▁} (U+2581);
 * (3) the stretch is split into UTF-8 characters, and adjacent symbols are merged, highest priority
 * first and leftmost first among equals; (4) each final symbol that is not a token becomes its
 * bytes' {@code <0xXX>} tokens (byte fallback), or the unknown token when there are none.
 *
 * <p>Priorities: with scores (a GGUF vocabulary, llama.cpp's {@code llm_tokenizer_spm}) a pair may
 * merge when its concatenation is a token, with that token's score; with merges (tokenizer.json,
 * the Hugging Face {@code BPE} model with {@code byte_fallback}) only listed pairs merge, lowest
 * rank first. Both give Llama 2's tokenization; the test vectors of llama.cpp check the first.
 *
 * <p>Decoding: {@code ▁} becomes a space, {@code <0xXX>} tokens their byte, every other token its
 * text (special tokens included). The space that encoding puts in front stays: decoding is a
 * plain concatenation, so that streaming and whole decoding agree.
 */
public final class SentencePieceBpeTokenizer implements Tokenizer {
  /** Token types as GGUF's {@code tokenizer.ggml.token_type} (llama.cpp's {@code llama_token_type}). */
  public static final int NORMAL = 1, UNKNOWN = 2, CONTROL = 3, USER_DEFINED = 4, UNUSED = 5, BYTE = 6;

  static final String SPACE = "\u2581";
  private static final byte[] SPACE_BYTES = SPACE.getBytes(StandardCharsets.UTF_8);
  private static final byte[] REPLACEMENT_BYTES = {(byte) 0xEF, (byte) 0xBF, (byte) 0xBD};
  /** Bytes of a UTF-8 character by the high nibble of its first byte, as llama.cpp's unicode_len_utf8. */
  private static final int[] UTF8_LENGTH = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};

  private final String[] pieces; // [vocab] token text as the vocabulary writes it (with ▁)
  private final float[] scores; // [vocab]
  private final int[] types; // [vocab]
  private final byte[][] decoded; // [vocab] the bytes each id decodes to
  private final Map<String, Integer> idOfBytes; // latin-1 of a piece's UTF-8 bytes -> id (first id wins)
  private final Map<String, Integer> idOfPiece;
  private final int[] byteIds; // [256] id of <0xXX>, or -1
  private final MergeTable merges; // null: merge by scores
  private final int[][] mergeList; // [rank] = {left, right, merged}, or null
  private final boolean addSpacePrefix;
  private final boolean prefixAfterSpecial;
  private final int unkId;
  private final OptionalInt bosId;
  private final OptionalInt eosId;
  private final byte[][][] specialsByFirstByte; // [256][k] UTF-8 of special tokens by first byte, longest first
  private final int[][] specialIdsByFirstByte;

  /**
   * @param pieces   token texts (with ▁ for spaces, {@code <0xXX>} for byte tokens)
   * @param scores   merge priorities (higher first); ignored when {@code merges} is given
   * @param types    token types ({@link #NORMAL}, ...)
   * @param merges   [rank] = {left id, right id, merged id}, or null to merge by scores
   * @param addSpacePrefix     put a space in front of the text
   * @param prefixAfterSpecial also in front of the text after each special token (Llama 2 "legacy")
   */
  public SentencePieceBpeTokenizer(String[] pieces, float[] scores, int[] types, int[][] merges,
      boolean addSpacePrefix, boolean prefixAfterSpecial, OptionalInt unk, OptionalInt bos, OptionalInt eos) {
    int n = pieces.length;
    if (scores.length != n || types.length != n) {
      throw new IllegalArgumentException(n + " tokens but " + scores.length + " scores and " + types.length + " types");
    }
    this.pieces = pieces.clone();
    this.scores = scores.clone();
    this.types = types.clone();
    this.decoded = new byte[n][];
    this.idOfBytes = new HashMap<>(n * 2);
    this.idOfPiece = new HashMap<>(n * 2);
    this.byteIds = new int[256];
    Arrays.fill(byteIds, -1);
    List<Integer> specials = new ArrayList<>();
    for (int id = 0; id < n; id++) {
      String p = pieces[id];
      if (p == null) throw new IllegalArgumentException("token " + id + " has no text");
      byte[] utf8 = p.getBytes(StandardCharsets.UTF_8);
      idOfBytes.putIfAbsent(latin1(utf8, 0, utf8.length), id);
      idOfPiece.putIfAbsent(p, id);
      int b = types[id] == BYTE ? parseByteToken(p) : -1;
      if (b >= 0) {
        if (byteIds[b] < 0) byteIds[b] = id;
        decoded[id] = new byte[] {(byte) b};
      } else {
        decoded[id] = types[id] == NORMAL || types[id] == USER_DEFINED || types[id] == UNUSED
            ? p.replace(SPACE, " ").getBytes(StandardCharsets.UTF_8) : utf8;
      }
      if ((types[id] == CONTROL || types[id] == USER_DEFINED || types[id] == UNKNOWN) && !p.isEmpty()) {
        specials.add(id);
      }
    }
    this.merges = merges == null ? null : new MergeTable(merges);
    this.mergeList = merges == null ? null : merges.clone();
    this.addSpacePrefix = addSpacePrefix;
    this.prefixAfterSpecial = prefixAfterSpecial;
    this.unkId = unk.orElse(-1);
    for (OptionalInt o : List.of(unk, bos, eos)) {
      if (o.isPresent() && (o.getAsInt() < 0 || o.getAsInt() >= n)) {
        throw new IllegalArgumentException("special token id " + o.getAsInt() + " outside the vocabulary of " + n);
      }
    }
    this.bosId = bos;
    this.eosId = eos;
    this.specialsByFirstByte = new byte[256][][];
    this.specialIdsByFirstByte = new int[256][];
    List<List<Integer>> byFirst = new ArrayList<>();
    for (int b = 0; b < 256; b++) byFirst.add(new ArrayList<>());
    for (int id : specials) byFirst.get(pieces[id].getBytes(StandardCharsets.UTF_8)[0] & 0xFF).add(id);
    for (int b = 0; b < 256; b++) {
      List<Integer> list = byFirst.get(b);
      if (list.isEmpty()) continue;
      list.sort(Comparator.comparingInt((Integer id) -> -pieces[id].getBytes(StandardCharsets.UTF_8).length)
          .thenComparingInt(id -> id));
      specialsByFirstByte[b] = new byte[list.size()][];
      specialIdsByFirstByte[b] = new int[list.size()];
      for (int k = 0; k < list.size(); k++) {
        specialsByFirstByte[b][k] = pieces[list.get(k)].getBytes(StandardCharsets.UTF_8);
        specialIdsByFirstByte[b][k] = list.get(k);
      }
    }
  }

  /** This tokenizer with other beginning- and end-of-sequence tokens. */
  public SentencePieceBpeTokenizer withBosEos(OptionalInt bos, OptionalInt eos) {
    return new SentencePieceBpeTokenizer(pieces, scores, types, mergeList, addSpacePrefix, prefixAfterSpecial,
        unkId(), bos, eos);
  }

  /** The byte of a {@code <0xXX>} token, or -1. */
  static int parseByteToken(String p) {
    if (p.length() != 6 || !p.startsWith("<0x") || p.charAt(5) != '>') return -1;
    try {
      return Integer.parseInt(p.substring(3, 5), 16);
    } catch (NumberFormatException e) {
      return -1;
    }
  }

  private static String latin1(byte[] b, int from, int to) {
    return new String(b, from, to - from, StandardCharsets.ISO_8859_1);
  }

  // ---------------------------------------------------------------------------------------------
  // Encoding

  @Override
  public int[] encode(String text) {
    return encode(Utf8.encode(text));
  }

  @Override
  public int[] encode(byte[] bytes) {
    IntList out = new IntList(bytes.length / 3 + 4);
    int start = 0;
    for (int i = 0; i < bytes.length; ) {
      byte[][] candidates = specialsByFirstByte[bytes[i] & 0xFF];
      int k = candidates == null ? -1 : match(bytes, i, candidates);
      if (k < 0) {
        i++;
        continue;
      }
      if (start < i) encodeText(bytes, start, i, prefixes(start), out);
      out.add(specialIdsByFirstByte[bytes[i] & 0xFF][k]);
      i += candidates[k].length;
      start = i;
    }
    if (start < bytes.length) encodeText(bytes, start, bytes.length, prefixes(start), out);
    return out.toArray();
  }

  /** Whether the text starting at {@code start} (at 0 or right after a special token) gets a space in front. */
  private boolean prefixes(int start) {
    return addSpacePrefix && (prefixAfterSpecial || start == 0);
  }

  private static int match(byte[] bytes, int at, byte[][] candidates) {
    for (int k = 0; k < candidates.length; k++) {
      byte[] c = candidates[k];
      if (at + c.length <= bytes.length && Arrays.equals(bytes, at, at + c.length, c, 0, c.length)) return k;
    }
    return -1;
  }

  /** A candidate merge of symbols left and right (adjacent when it was made). */
  private record Bigram(int left, int right, float priority, int leftLength, int size) {}

  private static final Comparator<Bigram> ORDER =
      Comparator.comparingDouble((Bigram b) -> -b.priority()).thenComparingInt(Bigram::left);

  /** Steps (2) to (4) for the text {@code b[from..to)}. */
  private void encodeText(byte[] b, int from, int to, boolean prefix, IntList out) {
    // (2) Space prefix and ▁ for spaces.
    int spaces = 0;
    for (int i = from; i < to; i++) if (b[i] == ' ') spaces++;
    byte[] text = new byte[(to - from) + (spaces + (prefix ? 1 : 0)) * (SPACE_BYTES.length - 1) + (prefix ? 1 : 0)];
    int at = 0;
    if (prefix) {
      System.arraycopy(SPACE_BYTES, 0, text, 0, SPACE_BYTES.length);
      at = SPACE_BYTES.length;
    }
    for (int i = from; i < to; i++) {
      if (b[i] == ' ') {
        System.arraycopy(SPACE_BYTES, 0, text, at, SPACE_BYTES.length);
        at += SPACE_BYTES.length;
      } else {
        text[at++] = b[i];
      }
    }
    // (3) One symbol per UTF-8 character, as a linked list.
    int capacity = text.length;
    int[] start = new int[capacity], length = new int[capacity], prev = new int[capacity], next = new int[capacity];
    int count = 0;
    for (int offset = 0; offset < text.length; count++) {
      int len = Math.min(UTF8_LENGTH[(text[offset] & 0xFF) >>> 4], text.length - offset);
      start[count] = offset;
      length[count] = len;
      prev[count] = count - 1;
      next[count] = offset + len < text.length ? count + 1 : -1;
      offset += len;
    }
    PriorityQueue<Bigram> queue = new PriorityQueue<>(ORDER);
    Map<String, int[]> revMerge = new HashMap<>();
    for (int i = 1; i < count; i++) tryBigram(text, start, length, i - 1, i, queue, revMerge);
    while (!queue.isEmpty()) {
      Bigram bigram = queue.poll();
      int l = bigram.left(), r = bigram.right();
      if (length[l] == 0 || length[r] == 0 || length[l] != bigram.leftLength()
          || length[l] + length[r] != bigram.size()) {
        continue; // stale: one side has merged since
      }
      length[l] += length[r];
      length[r] = 0;
      next[l] = next[r];
      if (next[r] >= 0) prev[next[r]] = l;
      tryBigram(text, start, length, prev[l], l, queue, revMerge);
      tryBigram(text, start, length, l, next[l], queue, revMerge);
    }
    // (4) Tokens, splitting symbols that are none back into their parts, then bytes.
    for (int i = count == 0 ? -1 : 0; i != -1; i = next[i]) resegment(text, start[i], length[i], revMerge, out);
  }

  private void tryBigram(byte[] text, int[] start, int[] length, int left, int right, PriorityQueue<Bigram> queue,
      Map<String, int[]> revMerge) {
    if (left < 0 || right < 0) return;
    int size = length[left] + length[right];
    String key = latin1(text, start[left], start[left] + size);
    float priority;
    if (merges == null) {
      Integer id = idOfBytes.get(key);
      if (id == null) return;
      priority = scores[id];
    } else {
      Integer a = idOfBytes.get(latin1(text, start[left], start[left] + length[left]));
      Integer c = idOfBytes.get(latin1(text, start[right], start[right] + length[right]));
      int rank = a == null || c == null ? -1 : merges.rank(a, c);
      if (rank < 0) return;
      priority = -rank;
    }
    queue.add(new Bigram(left, right, priority, length[left], size));
    revMerge.put(key, new int[] {start[left], length[left], start[right], length[right]});
  }

  private void resegment(byte[] text, int from, int len, Map<String, int[]> revMerge, IntList out) {
    String key = latin1(text, from, from + len);
    Integer id = idOfBytes.get(key);
    if (id != null) {
      out.add(id);
      return;
    }
    int[] parts = revMerge.get(key);
    if (parts == null) {
      for (int j = 0; j < len; j++) {
        int byteId = byteIds[text[from + j] & 0xFF];
        if (byteId >= 0) out.add(byteId);
        else if (unkId >= 0) out.add(unkId);
      }
      return;
    }
    resegment(text, parts[0], parts[1], revMerge, out);
    resegment(text, parts[2], parts[3], revMerge, out);
  }

  // ---------------------------------------------------------------------------------------------
  // Decoding and vocabulary

  /** Ids outside the vocabulary decode to U+FFFD (EF BF BD); decoding never throws. */
  @Override
  public byte[] decodeBytes(int[] ids) {
    java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream(ids.length * 4);
    for (int id : ids) out.writeBytes(id >= 0 && id < decoded.length ? decoded[id] : REPLACEMENT_BYTES);
    return out.toByteArray();
  }

  @Override
  public int vocabSize() {
    return pieces.length;
  }

  @Override
  public String token(int id) {
    if (id < 0 || id >= pieces.length) {
      throw new IllegalArgumentException("token id " + id + " is not in the vocabulary (vocabulary size "
          + pieces.length + ")");
    }
    return pieces[id];
  }

  @Override
  public OptionalInt tokenId(String token) {
    Integer id = idOfPiece.get(token);
    return id == null ? OptionalInt.empty() : OptionalInt.of(id);
  }

  @Override
  public OptionalInt bosId() {
    return bosId;
  }

  @Override
  public OptionalInt eosId() {
    return eosId;
  }

  public OptionalInt unkId() {
    return unkId < 0 ? OptionalInt.empty() : OptionalInt.of(unkId);
  }

  /** The control and unknown tokens, in id order. */
  @Override
  public List<String> specialTokens() {
    List<String> out = new ArrayList<>();
    for (int id = 0; id < pieces.length; id++) {
      if (types[id] == CONTROL || types[id] == UNKNOWN) out.add(pieces[id]);
    }
    return out;
  }

  public float score(int id) {
    return scores[id];
  }

  public int type(int id) {
    return types[id];
  }

  /** Scores of every token (a copy). */
  public float[] scores() {
    return scores.clone();
  }

  /** Types of every token (a copy). */
  public int[] types() {
    return types.clone();
  }

  /** Token texts (a copy). */
  public String[] pieces() {
    return pieces.clone();
  }

  public boolean addSpacePrefix() {
    return addSpacePrefix;
  }

  public boolean prefixAfterSpecial() {
    return prefixAfterSpecial;
  }

  /** Whether pairs merge by a merge list (tokenizer.json) rather than by scores (GGUF). */
  public boolean mergesByRank() {
    return merges != null;
  }

  MergeTable mergeTable() {
    return merges;
  }

  @Override
  public String toString() {
    return "SentencePieceBpeTokenizer[vocab=" + pieces.length + (merges != null ? ", merges=" + merges.size()
        : ", scores") + ", special=" + specialTokens() + "]";
  }
}
