package dev.tandem.tokenizer;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Byte-level BPE, as GPT-2 and the Hugging Face {@code tokenizers} library do it.
 *
 * <p>Encoding, in order: (1) added tokens (special tokens) are found literally in the bytes, leftmost
 * first and longest first at one position, and become their ids; (2) the bytes between them are split
 * into maximal well-formed UTF-8 runs and single ill-formed bytes; (3) a run is pre-tokenized (GPT-2's
 * regex, or the one tokenizer.json names) into pieces, each ill-formed byte is a piece of its own;
 * (4) each piece starts as one symbol per byte and BPE merges are applied, lowest rank first and
 * leftmost first among equal ranks. So every byte sequence encodes, and decodes back exactly (unless
 * {@code add_prefix_space} is on, which inserts a space in front of each stretch of text that does
 * not start with one).
 *
 * <p>Ids: in tokenizers made by {@link BpeTrainer} and {@link #bytes}, ids 0..255 are the single
 * bytes (id = byte value), then the merged tokens in merge order, then the special tokens. Loaded
 * tokenizers keep the ids of their file.
 *
 * <p>Immutable and thread-safe; a bounded cache remembers the ids of recent pieces.
 */
public final class ByteLevelBpeTokenizer implements Tokenizer {
  private static final int CACHE_CAPACITY = 1 << 16; // pieces
  private static final int CACHE_MAX_PIECE = 64; // bytes; longer pieces are rare and not cached
  private static final int SMALL_PIECE = 12; // bytes; up to this the plain quadratic merge is faster

  private static final List<String> BOS_NAMES = List.of("<|begin_of_text|>", "<s>", "<|endoftext|>");
  private static final List<String> EOS_NAMES =
      List.of("</s>", "<|end_of_text|>", "<|endoftext|>", "<|eot_id|>");

  private final String[] modelTokens; // [vocabSize] byte-level token strings of the BPE model, null where none
  private final String[] tokens; // [vocabSize] what token(id) answers: added content or model token
  private final byte[][] tokenBytes; // [vocabSize] the bytes each id decodes to, null where no token
  private final Map<String, Integer> ids; // token string -> id, model tokens and added contents
  private final int[] byteIds; // [256] id of the single-byte token of each byte
  private final MergeTable merges;
  private final List<AddedToken> addedTokens; // in id order
  private final byte[][][] addedByFirstByte; // [256][k] UTF-8 of added tokens by first byte, longest first
  private final int[][] addedIdsByFirstByte; // [256][k] their ids
  private final PreTokenizer preTokenizer;
  private final boolean addPrefixSpace;
  private final boolean nfc; // text is put in Unicode normalization form C before pre-tokenization (Qwen 2)
  private final boolean ignoreMerges; // a piece that is a whole vocabulary token is not merged (Llama 3)
  private final Map<String, Integer> wholePieceIds; // latin-1 of token bytes -> id, only with ignoreMerges
  private final OptionalInt bosId;
  private final OptionalInt eosId;
  private final ConcurrentHashMap<String, int[]> cache; // latin-1 string of a piece's bytes -> ids

  /**
   * @param modelTokens [id] byte-level token string of each BPE vocabulary entry, null for ids that
   *     only an added token uses; all 256 single bytes must be present
   * @param merges [rank] = {left id, right id, merged id}
   * @param addedTokens literal tokens; an id may also be a model token (GPT-2's {@code <|endoftext|>})
   */
  ByteLevelBpeTokenizer(String[] modelTokens, int[][] merges, List<AddedToken> addedTokens,
      PreTokenizer preTokenizer, boolean addPrefixSpace, boolean ignoreMerges) {
    int size = modelTokens.length;
    for (AddedToken t : addedTokens) size = Math.max(size, t.id() + 1);
    this.modelTokens = Arrays.copyOf(modelTokens, size);
    this.tokens = Arrays.copyOf(modelTokens, size);
    this.tokenBytes = new byte[size][];
    this.ids = new HashMap<>(size * 2);
    for (int id = 0; id < modelTokens.length; id++) {
      if (modelTokens[id] == null) continue;
      tokenBytes[id] = ByteLevel.decode(modelTokens[id]);
      Integer previous = ids.putIfAbsent(modelTokens[id], id);
      if (previous != null) {
        throw new IllegalArgumentException("token '" + modelTokens[id] + "' has two ids, " + previous
            + " and " + id);
      }
    }
    this.byteIds = new int[256];
    for (int b = 0; b < 256; b++) {
      Integer id = ids.get(String.valueOf(ByteLevel.charOf(b)));
      if (id == null) {
        throw new IllegalArgumentException(String.format(
            "the vocabulary has no token for byte 0x%02X ('%c'); byte-level BPE needs all 256",
            b, ByteLevel.charOf(b)));
      }
      byteIds[b] = id;
    }
    for (int r = 0; r < merges.length; r++) {
      for (int id : merges[r]) {
        if (id < 0 || id >= modelTokens.length || modelTokens[id] == null) {
          throw new IllegalArgumentException("merge " + r + " refers to id " + id
              + ", which is not a token of the model");
        }
      }
    }
    this.merges = new MergeTable(merges);

    List<AddedToken> added = new ArrayList<>(addedTokens);
    added.sort(Comparator.comparingInt(AddedToken::id));
    this.addedTokens = List.copyOf(added);
    List<List<AddedToken>> byFirst = new ArrayList<>();
    for (int b = 0; b < 256; b++) byFirst.add(new ArrayList<>());
    for (AddedToken t : added) {
      byte[] content = Utf8.encode(t.content());
      tokens[t.id()] = t.content();
      tokenBytes[t.id()] = content;
      ids.put(t.content(), t.id());
      byFirst.get(content[0] & 0xFF).add(t);
    }
    this.addedByFirstByte = new byte[256][][];
    this.addedIdsByFirstByte = new int[256][];
    for (int b = 0; b < 256; b++) {
      List<AddedToken> list = byFirst.get(b);
      if (list.isEmpty()) continue;
      list.sort(Comparator.comparingInt((AddedToken t) -> -Utf8.encode(t.content()).length)
          .thenComparingInt(AddedToken::id));
      addedByFirstByte[b] = new byte[list.size()][];
      addedIdsByFirstByte[b] = new int[list.size()];
      for (int k = 0; k < list.size(); k++) {
        addedByFirstByte[b][k] = Utf8.encode(list.get(k).content());
        addedIdsByFirstByte[b][k] = list.get(k).id();
      }
    }

    this.preTokenizer = preTokenizer;
    this.addPrefixSpace = addPrefixSpace;
    this.nfc = false;
    this.ignoreMerges = ignoreMerges;
    if (ignoreMerges) {
      wholePieceIds = new HashMap<>(size * 2);
      for (int id = 0; id < modelTokens.length; id++) {
        if (modelTokens[id] != null) {
          wholePieceIds.putIfAbsent(ByteLevel.latin1(tokenBytes[id], 0, tokenBytes[id].length), id);
        }
      }
    } else {
      wholePieceIds = null;
    }
    this.bosId = findByName(BOS_NAMES);
    this.eosId = findByName(EOS_NAMES);
    this.cache = new ConcurrentHashMap<>();
  }

  private ByteLevelBpeTokenizer(ByteLevelBpeTokenizer t, OptionalInt bosId, OptionalInt eosId, boolean nfc) {
    this.modelTokens = t.modelTokens;
    this.tokens = t.tokens;
    this.tokenBytes = t.tokenBytes;
    this.ids = t.ids;
    this.byteIds = t.byteIds;
    this.merges = t.merges;
    this.addedTokens = t.addedTokens;
    this.addedByFirstByte = t.addedByFirstByte;
    this.addedIdsByFirstByte = t.addedIdsByFirstByte;
    this.preTokenizer = t.preTokenizer;
    this.addPrefixSpace = t.addPrefixSpace;
    this.nfc = nfc;
    this.ignoreMerges = t.ignoreMerges;
    this.wholePieceIds = t.wholePieceIds;
    this.bosId = bosId;
    this.eosId = eosId;
    this.cache = t.cache;
  }

  /**
   * A tokenizer without merges: ids 0..255 are the bytes, then {@code specialTokens} in order. Each
   * byte of text is one token; for demo models with random weights and for tests.
   */
  public static ByteLevelBpeTokenizer bytes(List<String> specialTokens) {
    String[] modelTokens = new String[256];
    for (int b = 0; b < 256; b++) modelTokens[b] = String.valueOf(ByteLevel.charOf(b));
    return new ByteLevelBpeTokenizer(modelTokens, new int[0][], specials(256, specialTokens),
        new Gpt2PreTokenizer(), false, false);
  }

  /** Special tokens with consecutive ids from {@code firstId}, rejecting empty and repeated ones. */
  static List<AddedToken> specials(int firstId, List<String> specialTokens) {
    List<AddedToken> out = new ArrayList<>();
    for (String s : specialTokens) {
      if (s == null || s.isEmpty()) throw new IllegalArgumentException("a special token is empty");
      if (out.stream().anyMatch(t -> t.content().equals(s))) {
        throw new IllegalArgumentException("special token '" + s + "' is listed twice");
      }
      out.add(new AddedToken(firstId + out.size(), s, true));
    }
    return out;
  }

  /**
   * This tokenizer with other beginning- and end-of-sequence tokens (tokenizer.json does not say
   * which they are; by default they are guessed from the names of the added tokens).
   */
  public ByteLevelBpeTokenizer withBosEos(OptionalInt bos, OptionalInt eos) {
    bos.ifPresent(this::checkId);
    eos.ifPresent(this::checkId);
    return new ByteLevelBpeTokenizer(this, bos, eos, nfc);
  }

  /**
   * This tokenizer with the text between added tokens put in Unicode normalization form C before
   * pre-tokenization (tokenizer.json's {@code "normalizer": {"type": "NFC"}}, as Qwen 2 has). Encoding
   * is then lossless only for text already in NFC.
   */
  public ByteLevelBpeTokenizer withNfc(boolean on) {
    return new ByteLevelBpeTokenizer(this, bosId, eosId, on);
  }

  /** Whether text is NFC-normalized before pre-tokenization. */
  public boolean nfc() {
    return nfc;
  }

  private OptionalInt findByName(List<String> names) {
    for (String name : names) {
      for (AddedToken t : addedTokens) {
        if (t.content().equals(name)) return OptionalInt.of(t.id());
      }
    }
    return OptionalInt.empty();
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
    segment(bytes, new Pieces() {
      @Override
      public void piece(byte[] b, int from, int to) {
        encodePiece(b, from, to, out);
      }

      @Override
      public void added(int id) {
        out.add(id);
      }
    });
    return out.toArray();
  }

  /** Receives what {@link #segment} finds, in text order. */
  interface Pieces {
    /** A piece of text to encode with BPE (one byte long for an ill-formed byte). */
    void piece(byte[] b, int from, int to);

    /** An added token found in the text. */
    void added(int id);
  }

  /** Steps (1) to (3) of encoding: added tokens, well-formed runs, pre-tokenization. */
  void segment(byte[] bytes, Pieces pieces) {
    int start = 0; // start of the text since the last added token
    for (int i = 0; i < bytes.length; ) {
      byte[][] candidates = addedByFirstByte[bytes[i] & 0xFF];
      int k = candidates == null ? -1 : matchAdded(bytes, i, candidates);
      if (k < 0) {
        i++;
        continue;
      }
      segmentText(bytes, start, i, pieces);
      pieces.added(addedIdsByFirstByte[bytes[i] & 0xFF][k]);
      i += candidates[k].length;
      start = i;
    }
    segmentText(bytes, start, bytes.length, pieces);
  }

  private static int matchAdded(byte[] bytes, int at, byte[][] candidates) {
    for (int k = 0; k < candidates.length; k++) {
      byte[] c = candidates[k];
      if (at + c.length <= bytes.length && Arrays.equals(bytes, at, at + c.length, c, 0, c.length)) {
        return k;
      }
    }
    return -1;
  }

  private void segmentText(byte[] b, int from, int to, Pieces pieces) {
    if (from >= to) return;
    if (addPrefixSpace && b[from] != ' ') {
      byte[] prefixed = new byte[to - from + 1];
      prefixed[0] = ' ';
      System.arraycopy(b, from, prefixed, 1, to - from);
      b = prefixed;
      from = 0;
      to = prefixed.length;
    }
    PreTokenizer.Sink sink = pieces::piece;
    int run = from; // start of the current well-formed run
    int i = from;
    while (i < to) {
      if (b[i] >= 0) {
        i++;
        continue;
      }
      int len = Utf8.sequenceLength(b, i, to);
      if (len > 0) {
        i += len;
        continue;
      }
      if (run < i) split(b, run, i, sink);
      pieces.piece(b, i, i + 1);
      i++;
      run = i;
    }
    if (run < to) split(b, run, to, sink);
  }

  /** Pre-tokenizes a well-formed run, NFC-normalized first when this tokenizer normalizes. */
  private void split(byte[] b, int from, int to, PreTokenizer.Sink sink) {
    if (nfc) {
      String s = new String(b, from, to - from, java.nio.charset.StandardCharsets.UTF_8);
      if (!java.text.Normalizer.isNormalized(s, java.text.Normalizer.Form.NFC)) {
        byte[] normalized = Utf8.encode(java.text.Normalizer.normalize(s, java.text.Normalizer.Form.NFC));
        preTokenizer.split(normalized, 0, normalized.length, sink);
        return;
      }
    }
    preTokenizer.split(b, from, to, sink);
  }

  /** Step (4): BPE over one piece, through the cache. */
  private void encodePiece(byte[] b, int from, int to, IntList out) {
    int n = to - from;
    if (n == 1) {
      out.add(byteIds[b[from] & 0xFF]);
      return;
    }
    String key = n <= CACHE_MAX_PIECE || ignoreMerges ? ByteLevel.latin1(b, from, to) : null;
    if (n <= CACHE_MAX_PIECE) {
      int[] cached = cache.get(key);
      if (cached != null) {
        out.addAll(cached);
        return;
      }
    }
    int[] result = null;
    if (ignoreMerges) {
      Integer whole = wholePieceIds.get(key);
      if (whole != null) result = new int[] {whole};
    }
    if (result == null) {
      int[] symbols = new int[n];
      for (int i = 0; i < n; i++) symbols[i] = byteIds[b[from + i] & 0xFF];
      int len = n <= SMALL_PIECE ? BpeMerge.quadratic(symbols, n, merges) : BpeMerge.withHeap(symbols, n, merges);
      result = Arrays.copyOf(symbols, len);
    }
    if (n <= CACHE_MAX_PIECE) {
      if (cache.size() >= CACHE_CAPACITY) cache.clear();
      cache.put(key, result);
    }
    out.addAll(result);
  }

  // ---------------------------------------------------------------------------------------------
  // Decoding and vocabulary

  /** Ids outside the vocabulary (or unassigned) decode to U+FFFD (EF BF BD); decoding never throws. */
  @Override
  public byte[] decodeBytes(int[] ids) {
    int total = 0;
    for (int id : ids) total += bytesOrReplacement(id).length;
    byte[] out = new byte[total];
    int at = 0;
    for (int id : ids) {
      byte[] b = bytesOrReplacement(id);
      System.arraycopy(b, 0, out, at, b.length);
      at += b.length;
    }
    return out;
  }

  private static final byte[] REPLACEMENT_BYTES = {(byte) 0xEF, (byte) 0xBF, (byte) 0xBD};

  private byte[] bytesOrReplacement(int id) {
    return id >= 0 && id < tokenBytes.length && tokenBytes[id] != null ? tokenBytes[id] : REPLACEMENT_BYTES;
  }

  /** The bytes token {@code id} stands for. */
  byte[] bytesOf(int id) {
    checkId(id);
    return tokenBytes[id];
  }

  private void checkId(int id) {
    if (id < 0 || id >= tokenBytes.length || tokenBytes[id] == null) {
      throw new IllegalArgumentException("token id " + id + " is not in the vocabulary (vocabulary size "
          + tokenBytes.length + (id >= 0 && id < tokenBytes.length ? ", id unassigned" : "") + ")");
    }
  }

  @Override
  public int vocabSize() {
    return tokens.length;
  }

  @Override
  public String token(int id) {
    checkId(id);
    return tokens[id];
  }

  @Override
  public OptionalInt tokenId(String token) {
    Integer id = ids.get(token);
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

  @Override
  public List<String> specialTokens() {
    return addedTokens.stream().filter(AddedToken::special).map(AddedToken::content).toList();
  }

  /** The added tokens (special or not), in id order. */
  public List<AddedToken> addedTokens() {
    return addedTokens;
  }

  /** Number of merges. */
  public int mergeCount() {
    return merges.size();
  }

  /** The merges in rank order, each as {@code "left right"} in byte-level form (the older tokenizer.json form). */
  public List<String> merges() {
    List<String> out = new ArrayList<>(merges.size());
    for (int r = 0; r < merges.size(); r++) {
      out.add(modelTokens[merges.left(r)] + " " + modelTokens[merges.right(r)]);
    }
    return out;
  }

  // Package-private views for TokenizerJson.

  String[] modelTokens() {
    return modelTokens;
  }

  MergeTable mergeTable() {
    return merges;
  }

  PreTokenizer preTokenizer() {
    return preTokenizer;
  }

  boolean addPrefixSpace() {
    return addPrefixSpace;
  }

  boolean ignoreMerges() {
    return ignoreMerges;
  }

  @Override
  public String toString() {
    return "ByteLevelBpeTokenizer[vocab=" + vocabSize() + ", merges=" + merges.size() + ", special="
        + specialTokens() + "]";
  }
}
