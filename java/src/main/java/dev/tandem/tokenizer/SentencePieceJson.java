package dev.tandem.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;

/**
 * tokenizer.json of SentencePiece-style BPE (Llama 2): model {@code BPE} with {@code byte_fallback},
 * and either the "legacy" normalizer {@code Sequence[Prepend("▁"), Replace(" ", "▁")]} (a space in
 * front of the text and after every special token) or the pre-tokenizer {@code Metaspace} with
 * {@code split: false} ({@code prepend_scheme} always, first or never). Added tokens marked special
 * become control tokens, the others user-defined; {@code <0xXX>} tokens are the byte fallback.
 */
final class SentencePieceJson {
  private SentencePieceJson() {}

  static SentencePieceBpeTokenizer parse(JsonNode root, String source) throws IOException {
    JsonNode model = root.path("model");
    if (!model.isObject()) throw new IOException(source + ": no \"model\" object");
    String type = model.path("type").asText(model.has("merges") ? "BPE" : "");
    if (!type.equals("BPE")) {
      throw new IOException(source + ": model type '" + type + "' is not supported (only BPE)");
    }
    // How spaces are marked: the normalizer (legacy) or the Metaspace pre-tokenizer.
    boolean prefix = false;
    boolean prefixAfterSpecial = true;
    boolean replacesSpaces = false;
    JsonNode normalizer = root.path("normalizer");
    List<JsonNode> steps = new ArrayList<>();
    if (normalizer.path("type").asText().equals("Sequence")) normalizer.path("normalizers").forEach(steps::add);
    else if (normalizer.isObject()) steps.add(normalizer);
    for (JsonNode step : steps) {
      String t = step.path("type").asText();
      if (t.equals("Prepend") && step.path("prepend").asText().equals(SentencePieceBpeTokenizer.SPACE)) {
        prefix = true;
      } else if (t.equals("Replace") && step.path("pattern").path("String").asText().equals(" ")
          && step.path("content").asText().equals(SentencePieceBpeTokenizer.SPACE)) {
        replacesSpaces = true;
      } else {
        throw new IOException(source + ": normalizer '" + t + "' is not supported for SentencePiece BPE (only"
            + " Prepend(\"\u2581\") and Replace(\" \", \"\u2581\"))");
      }
    }
    JsonNode pre = root.path("pre_tokenizer");
    if (pre.isObject()) {
      String t = pre.path("type").asText();
      if (!t.equals("Metaspace") || !pre.path("replacement").asText().equals(SentencePieceBpeTokenizer.SPACE)
          || pre.path("split").asBoolean(false)) {
        throw new IOException(source + ": pre_tokenizer '" + t + "' (replacement '" + pre.path("replacement").asText()
            + "', split " + pre.path("split").asBoolean(false) + ") is not supported for SentencePiece BPE (only"
            + " Metaspace with replacement \u2581 and split false)");
      }
      replacesSpaces = true;
      String scheme = pre.path("prepend_scheme").asText(pre.path("add_prefix_space").asBoolean(true) ? "always" : "never");
      prefix = !scheme.equals("never");
      prefixAfterSpecial = scheme.equals("always");
    }
    if (!replacesSpaces) {
      throw new IOException(source + ": SentencePiece BPE needs spaces replaced by \u2581 (a Replace normalizer or a"
          + " Metaspace pre-tokenizer)");
    }

    JsonNode vocab = model.path("vocab");
    if (!vocab.isObject()) throw new IOException(source + ": model.vocab is not an object");
    Map<String, Integer> idOf = new HashMap<>(vocab.size() * 2);
    int size = 0;
    for (Map.Entry<String, JsonNode> e : vocab.properties()) {
      if (!e.getValue().canConvertToInt() || e.getValue().asInt() < 0) {
        throw new IOException(source + ": vocab entry '" + e.getKey() + "' has no valid id: " + e.getValue());
      }
      idOf.put(e.getKey(), e.getValue().asInt());
      size = Math.max(size, e.getValue().asInt() + 1);
    }
    List<JsonNode> added = new ArrayList<>();
    root.path("added_tokens").forEach(added::add);
    for (JsonNode t : added) {
      if (!t.path("id").canConvertToInt() || !t.path("content").isTextual()) {
        throw new IOException(source + ": added token without id or content: " + t);
      }
      size = Math.max(size, t.path("id").asInt() + 1);
    }
    String[] pieces = new String[size];
    int[] types = new int[size];
    for (Map.Entry<String, Integer> e : idOf.entrySet()) {
      if (pieces[e.getValue()] != null) {
        throw new IOException(source + ": vocab id " + e.getValue() + " is used by both '" + pieces[e.getValue()]
            + "' and '" + e.getKey() + "'");
      }
      pieces[e.getValue()] = e.getKey();
      types[e.getValue()] = SentencePieceBpeTokenizer.parseByteToken(e.getKey()) >= 0
          ? SentencePieceBpeTokenizer.BYTE : SentencePieceBpeTokenizer.NORMAL;
    }
    String unkToken = model.path("unk_token").isTextual() ? model.path("unk_token").asText() : null;
    for (JsonNode t : added) {
      int id = t.path("id").asInt();
      pieces[id] = t.path("content").asText();
      boolean special = t.path("special").asBoolean(false);
      types[id] = pieces[id].equals(unkToken) ? SentencePieceBpeTokenizer.UNKNOWN
          : special ? SentencePieceBpeTokenizer.CONTROL : SentencePieceBpeTokenizer.USER_DEFINED;
    }
    for (int id = 0; id < size; id++) {
      if (pieces[id] == null) {
        pieces[id] = "<unused_" + id + ">";
        types[id] = SentencePieceBpeTokenizer.UNUSED;
      }
    }
    Map<String, Integer> allIds = new HashMap<>(idOf);
    for (JsonNode t : added) allIds.putIfAbsent(t.path("content").asText(), t.path("id").asInt());

    JsonNode mergesNode = model.path("merges");
    if (!mergesNode.isArray()) throw new IOException(source + ": model.merges is not an array");
    int[][] merges = new int[mergesNode.size()][];
    float[] scores = new float[size];
    boolean[] scored = new boolean[size];
    for (int r = 0; r < merges.length; r++) {
      JsonNode m = mergesNode.get(r);
      String left;
      String right;
      if (m.isTextual()) {
        String s = m.asText();
        int space = s.indexOf(' ');
        if (space < 0 || s.indexOf(' ', space + 1) >= 0) {
          throw new IOException(source + ": merge " + r + " '" + s + "' is not two tokens separated by a space");
        }
        left = s.substring(0, space);
        right = s.substring(space + 1);
      } else if (m.isArray() && m.size() == 2 && m.get(0).isTextual() && m.get(1).isTextual()) {
        left = m.get(0).asText();
        right = m.get(1).asText();
      } else {
        throw new IOException(source + ": merge " + r + " is neither \"a b\" nor [\"a\", \"b\"]: " + m);
      }
      Integer a = allIds.get(left), b = allIds.get(right), z = allIds.get(left + right);
      if (a == null || b == null || z == null) {
        throw new IOException(source + ": merge " + r + " (" + left + ", " + right + "): '"
            + (a == null ? left : b == null ? right : left + right) + "' is not in the vocabulary");
      }
      merges[r] = new int[] {a, b, z};
      if (!scored[z]) {
        scored[z] = true;
        scores[z] = -r; // for GGUF: a merged token's priority is its first merge's rank
      }
    }
    OptionalInt unk = unkToken == null || !allIds.containsKey(unkToken) ? OptionalInt.empty()
        : OptionalInt.of(allIds.get(unkToken));
    OptionalInt bos = allIds.containsKey("<s>") ? OptionalInt.of(allIds.get("<s>")) : OptionalInt.empty();
    OptionalInt eos = allIds.containsKey("</s>") ? OptionalInt.of(allIds.get("</s>")) : OptionalInt.empty();
    return new SentencePieceBpeTokenizer(pieces, scores, types, merges, prefix, prefixAfterSpecial, unk, bos, eos);
  }

  /**
   * The tokenizer.json of {@code t}. Merges come from the tokenizer's merge list, or, for a
   * tokenizer that merges by scores, are made from the scores as Hugging Face's converter does:
   * every split of a normal token into two tokens, ordered by the token's score (highest first).
   */
  static ObjectNode toJson(SentencePieceBpeTokenizer t) {
    JsonNodeFactory f = JsonNodeFactory.instance;
    String[] pieces = t.pieces();
    int[] types = t.types();
    ObjectNode root = f.objectNode();
    root.put("version", "1.0");
    root.putNull("truncation");
    root.putNull("padding");
    ArrayNode added = root.putArray("added_tokens");
    for (int id = 0; id < pieces.length; id++) {
      int type = types[id];
      if (type == SentencePieceBpeTokenizer.CONTROL || type == SentencePieceBpeTokenizer.UNKNOWN
          || type == SentencePieceBpeTokenizer.USER_DEFINED) {
        added.addObject().put("id", id).put("content", pieces[id]).put("single_word", false).put("lstrip", false)
            .put("rstrip", false).put("normalized", false).put("special", type != SentencePieceBpeTokenizer.USER_DEFINED);
      }
    }
    String space = SentencePieceBpeTokenizer.SPACE;
    if (t.addSpacePrefix() && !t.prefixAfterSpecial()) {
      root.putNull("normalizer");
      root.putObject("pre_tokenizer").put("type", "Metaspace").put("replacement", space)
          .put("prepend_scheme", "first").put("split", false);
    } else {
      ObjectNode normalizer = root.putObject("normalizer").put("type", "Sequence");
      ArrayNode list = normalizer.putArray("normalizers");
      if (t.addSpacePrefix()) list.addObject().put("type", "Prepend").put("prepend", space);
      ObjectNode replace = list.addObject().put("type", "Replace");
      replace.putObject("pattern").put("String", " ");
      replace.put("content", space);
      root.putNull("pre_tokenizer");
    }
    root.putNull("post_processor");
    ObjectNode decoder = root.putObject("decoder").put("type", "Sequence");
    ArrayNode decoders = decoder.putArray("decoders");
    ObjectNode replace = decoders.addObject().put("type", "Replace");
    replace.putObject("pattern").put("String", space);
    replace.put("content", " ");
    decoders.addObject().put("type", "ByteFallback");
    decoders.addObject().put("type", "Fuse");
    if (t.addSpacePrefix()) decoders.addObject().put("type", "Strip").put("content", " ").put("start", 1).put("stop", 0);
    ObjectNode model = root.putObject("model");
    model.put("type", "BPE");
    model.putNull("dropout");
    if (t.unkId().isPresent()) model.put("unk_token", pieces[t.unkId().getAsInt()]);
    else model.putNull("unk_token");
    model.putNull("continuing_subword_prefix");
    model.putNull("end_of_word_suffix");
    model.put("fuse_unk", true);
    model.put("byte_fallback", true);
    model.put("ignore_merges", false);
    ObjectNode vocab = model.putObject("vocab");
    for (int id = 0; id < pieces.length; id++) vocab.put(pieces[id], id);
    ArrayNode merges = model.putArray("merges");
    if (t.mergesByRank()) {
      MergeTable m = t.mergeTable();
      for (int r = 0; r < m.size(); r++) merges.addArray().add(pieces[m.left(r)]).add(pieces[m.right(r)]);
    } else {
      for (int[] m : mergesFromScores(t)) merges.addArray().add(pieces[m[0]]).add(pieces[m[1]]);
    }
    return root;
  }

  /** {left, right} pairs: each split of a normal token into two tokens, by the token's score, highest first. */
  static List<int[]> mergesFromScores(SentencePieceBpeTokenizer t) {
    String[] pieces = t.pieces();
    int[] types = t.types();
    Map<String, Integer> normal = new HashMap<>();
    for (int id = 0; id < pieces.length; id++) {
      if (types[id] == SentencePieceBpeTokenizer.NORMAL) normal.putIfAbsent(pieces[id], id);
    }
    List<int[]> merges = new ArrayList<>(); // {left, right, merged}
    for (int id = 0; id < pieces.length; id++) {
      if (types[id] != SentencePieceBpeTokenizer.NORMAL) continue;
      String p = pieces[id];
      List<int[]> local = new ArrayList<>();
      for (int i = p.offsetByCodePoints(0, 1); i < p.length(); i = p.offsetByCodePoints(i, 1)) {
        Integer a = normal.get(p.substring(0, i)), b = normal.get(p.substring(i));
        if (a != null && b != null) local.add(new int[] {a, b, id});
      }
      local.sort(Comparator.<int[]>comparingInt(m -> m[0]).thenComparingInt(m -> m[1]));
      merges.addAll(local);
    }
    float[] scores = t.scores();
    merges.sort(Comparator.comparingDouble((int[] m) -> -scores[m[2]]).thenComparingInt(m -> m[2]));
    return merges;
  }
}
