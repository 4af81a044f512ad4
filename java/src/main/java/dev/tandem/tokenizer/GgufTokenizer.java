package dev.tandem.tokenizer;

import dev.tandem.io.gguf.GgufException;
import dev.tandem.io.gguf.GgufFile;
import dev.tandem.io.gguf.GgufValue;
import dev.tandem.io.gguf.GgufValueType;
import dev.tandem.io.gguf.GgufWriter;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;

/**
 * Tokenizers in GGUF metadata ({@code tokenizer.ggml.*}, as llama.cpp writes and reads them):
 * {@code tokenizer.ggml.model = "llama"} is SentencePiece BPE (tokens, scores, token types),
 * {@code "gpt2"} byte-level BPE (tokens, merges, token types, and the pre-tokenizer named by
 * {@code tokenizer.ggml.pre}: {@code gpt-2}, {@code llama-bpe} (Llama 3), {@code qwen2}, ...).
 * A file that also holds {@code tokenizer.huggingface.json} (as this engine writes) is read from that
 * tokenizer.json, which says everything exactly.
 */
public final class GgufTokenizer {
  public static final String HF_JSON = "tokenizer.huggingface.json";

  private GgufTokenizer() {}

  /** Whether the file holds a tokenizer. */
  public static boolean present(GgufFile f) {
    return f.metadata().containsKey("tokenizer.ggml.model") || f.metadata().containsKey(HF_JSON);
  }

  /**
   * The tokenizer in a GGUF file's metadata.
   *
   * @throws IOException naming the file and the key when it has none, or one this engine cannot read
   */
  public static Tokenizer load(GgufFile f) throws IOException {
    OptionalInt bos = optionalId(f, "tokenizer.ggml.bos_token_id");
    OptionalInt eos = optionalId(f, "tokenizer.ggml.eos_token_id");
    Optional<String> json = f.string(HF_JSON);
    if (json.isPresent()) {
      Tokenizer t = TokenizerJson.parse(json.get(), f.path() + " (" + HF_JSON + ")");
      OptionalInt b = bos.isPresent() ? bos : t.bosId(), e = eos.isPresent() ? eos : t.eosId();
      return switch (t) {
        case ByteLevelBpeTokenizer byteLevel -> byteLevel.withBosEos(b, e);
        case SentencePieceBpeTokenizer spm -> spm.withBosEos(b, e);
        default -> t;
      };
    }
    String model = f.string("tokenizer.ggml.model")
        .orElseThrow(() -> new GgufException(f.path(), "has no tokenizer (no tokenizer.ggml.model)"));
    String[] tokens = stringArray(f, "tokenizer.ggml.tokens");
    int[] types = intArray(f, "tokenizer.ggml.token_type", tokens.length, SentencePieceBpeTokenizer.NORMAL);
    try {
      return switch (model) {
        case "llama" -> {
          float[] scores = floatArray(f, "tokenizer.ggml.scores", tokens.length);
          boolean prefix = f.bool("tokenizer.ggml.add_space_prefix").orElse(true);
          yield new SentencePieceBpeTokenizer(tokens, scores, types, null, prefix, true,
              optionalId(f, "tokenizer.ggml.unknown_token_id"), bos, eos);
        }
        case "gpt2" -> byteLevel(f, tokens, types).withBosEos(bos, eos);
        default -> throw new GgufException(f.path(), "tokenizer.ggml.model '" + model
            + "' is not supported (supported: llama, gpt2)");
      };
    } catch (IllegalArgumentException e) {
      throw new GgufException(f.path(), "tokenizer: " + e.getMessage(), e);
    }
  }

  private static ByteLevelBpeTokenizer byteLevel(GgufFile f, String[] tokens, int[] types) throws IOException {
    String pre = f.string("tokenizer.ggml.pre").orElse("default");
    PreTokenizer preTokenizer;
    boolean ignoreMerges = false;
    switch (pre) {
      case "gpt-2", "gpt2", "default" -> preTokenizer = new Gpt2PreTokenizer();
      case "llama-bpe", "llama3" -> {
        preTokenizer = new PreTokenizer.RegexSplit(TokenizerJson.LLAMA3_PATTERN, false);
        ignoreMerges = true;
      }
      case "qwen2" -> preTokenizer = new PreTokenizer.RegexSplit(TokenizerJson.QWEN2_PATTERN, false);
      case "smollm" -> preTokenizer = new PreTokenizer.Sequence(List.of(new PreTokenizer.Digits(true),
          new Gpt2PreTokenizer()));
      default -> throw new GgufException(f.path(), "tokenizer.ggml.pre '" + pre
          + "' is not supported (supported: gpt-2, llama-bpe, qwen2, smollm)");
    }
    Map<String, Integer> idOf = new HashMap<>(tokens.length * 2);
    String[] modelTokens = new String[tokens.length];
    List<AddedToken> added = new ArrayList<>();
    for (int id = 0; id < tokens.length; id++) {
      int type = types[id];
      if (type == SentencePieceBpeTokenizer.CONTROL || type == SentencePieceBpeTokenizer.USER_DEFINED) {
        added.add(new AddedToken(id, tokens[id], type == SentencePieceBpeTokenizer.CONTROL));
        if (!idOf.containsKey(tokens[id]) && isByteLevelText(tokens[id])) {
          modelTokens[id] = tokens[id];
          idOf.put(tokens[id], id);
        }
      } else if (idOf.putIfAbsent(tokens[id], id) == null) {
        modelTokens[id] = tokens[id];
      }
    }
    String[] mergeStrings = f.metadata().containsKey("tokenizer.ggml.merges")
        ? stringArray(f, "tokenizer.ggml.merges") : new String[0];
    int[][] merges = new int[mergeStrings.length][];
    for (int r = 0; r < merges.length; r++) {
      String s = mergeStrings[r];
      int space = s.indexOf(' ', 1);
      Integer a = space < 0 ? null : idOf.get(s.substring(0, space));
      Integer b = space < 0 ? null : idOf.get(s.substring(space + 1));
      Integer z = space < 0 ? null : idOf.get(s.substring(0, space) + s.substring(space + 1));
      if (a == null || b == null || z == null) {
        throw new GgufException(f.path(), "tokenizer.ggml.merges[" + r + "] '" + s + "' is not two tokens whose"
            + " concatenation is a token");
      }
      merges[r] = new int[] {a, b, z};
    }
    return new ByteLevelBpeTokenizer(modelTokens, merges, added, preTokenizer, false, ignoreMerges);
  }

  /** Whether every character of a token is one of byte-level BPE's 256 byte characters. */
  private static boolean isByteLevelText(String token) {
    for (int i = 0; i < token.length(); i++) {
      char c = token.charAt(i);
      if (c >= 0x144 || ByteLevel.decode(String.valueOf(c)).length != 1) return false;
    }
    return true;
  }

  /**
   * Writes {@code t} into GGUF metadata as llama.cpp reads it, and, when given, the tokenizer.json
   * text under {@code tokenizer.huggingface.json} so that this engine reads it back exactly.
   *
   * @param addBos whether a BOS token is put in front of prompts ({@code tokenizer.ggml.add_bos_token})
   */
  public static void write(Tokenizer t, GgufWriter w, String tokenizerJson, boolean addBos) {
    switch (t) {
      case SentencePieceBpeTokenizer s -> {
        w.put("tokenizer.ggml.model", GgufValue.string("llama"));
        w.put("tokenizer.ggml.pre", GgufValue.string("default"));
        w.put("tokenizer.ggml.tokens", GgufValue.strings(s.pieces()));
        w.put("tokenizer.ggml.scores", GgufValue.f32s(s.scores()));
        w.put("tokenizer.ggml.token_type", GgufValue.i32s(s.types()));
        s.unkId().ifPresent(id -> w.put("tokenizer.ggml.unknown_token_id", GgufValue.u32(id)));
        w.put("tokenizer.ggml.add_space_prefix", GgufValue.bool(s.addSpacePrefix()));
      }
      case ByteLevelBpeTokenizer b -> {
        w.put("tokenizer.ggml.model", GgufValue.string("gpt2"));
        w.put("tokenizer.ggml.pre", GgufValue.string(preName(b.preTokenizer())));
        String[] tokens = new String[b.vocabSize()];
        int[] types = new int[b.vocabSize()];
        String[] model = b.modelTokens();
        for (int id = 0; id < tokens.length; id++) {
          tokens[id] = model[id] != null ? model[id] : "[PAD" + id + "]";
          types[id] = model[id] != null ? SentencePieceBpeTokenizer.NORMAL : SentencePieceBpeTokenizer.UNUSED;
        }
        for (AddedToken a : b.addedTokens()) {
          tokens[a.id()] = a.content();
          types[a.id()] = a.special() ? SentencePieceBpeTokenizer.CONTROL : SentencePieceBpeTokenizer.USER_DEFINED;
        }
        w.put("tokenizer.ggml.tokens", GgufValue.strings(tokens));
        w.put("tokenizer.ggml.token_type", GgufValue.i32s(types));
        w.put("tokenizer.ggml.merges", GgufValue.strings(b.merges().toArray(String[]::new)));
      }
      default -> throw new IllegalArgumentException("cannot write a " + t.getClass().getSimpleName() + " to GGUF");
    }
    t.bosId().ifPresent(id -> w.put("tokenizer.ggml.bos_token_id", GgufValue.u32(id)));
    t.eosId().ifPresent(id -> w.put("tokenizer.ggml.eos_token_id", GgufValue.u32(id)));
    w.put("tokenizer.ggml.add_bos_token", GgufValue.bool(addBos));
    w.put("tokenizer.ggml.add_eos_token", GgufValue.bool(false));
    if (tokenizerJson != null) w.put(HF_JSON, GgufValue.string(tokenizerJson));
  }

  private static String preName(PreTokenizer p) {
    return switch (p) {
      case Gpt2PreTokenizer _ -> "gpt-2";
      case PreTokenizer.RegexSplit s when !s.literal() && s.source().equals(TokenizerJson.LLAMA3_PATTERN) -> "llama-bpe";
      case PreTokenizer.RegexSplit s when !s.literal() && s.source().equals(TokenizerJson.QWEN2_PATTERN) -> "qwen2";
      case PreTokenizer.Sequence s when s.equals(new PreTokenizer.Sequence(List.of(new PreTokenizer.Digits(true),
          new Gpt2PreTokenizer()))) -> "smollm";
      default -> "default";
    };
  }

  private static OptionalInt optionalId(GgufFile f, String key) throws GgufException {
    Optional<Long> v = f.integer(key);
    return v.isPresent() ? OptionalInt.of(Math.toIntExact(v.get())) : OptionalInt.empty();
  }

  private static String[] stringArray(GgufFile f, String key) throws GgufException {
    GgufValue v = f.value(key).orElseThrow(() -> new GgufException(f.path(), "metadata " + key + " is missing"));
    if (v.type() != GgufValueType.ARRAY || v.elementType() != GgufValueType.STRING) {
      throw new GgufException(f.path(), "metadata " + key + " is " + v + ", not an array of strings");
    }
    return (String[]) v.value();
  }

  private static float[] floatArray(GgufFile f, String key, int n) throws GgufException {
    Optional<GgufValue> o = f.value(key);
    if (o.isEmpty()) return new float[n];
    GgufValue v = o.get();
    if (v.type() != GgufValueType.ARRAY || v.elementType() != GgufValueType.FLOAT32 || v.length() != n) {
      throw new GgufException(f.path(), "metadata " + key + " is " + v + ", not " + n + " FLOAT32 values");
    }
    return (float[]) v.value();
  }

  private static int[] intArray(GgufFile f, String key, int n, int fill) throws GgufException {
    Optional<GgufValue> o = f.value(key);
    int[] out = new int[n];
    if (o.isEmpty()) {
      java.util.Arrays.fill(out, fill);
      return out;
    }
    GgufValue v = o.get();
    if (v.type() != GgufValueType.ARRAY || !(v.value() instanceof long[] a) || a.length != n) {
      throw new GgufException(f.path(), "metadata " + key + " is " + v + ", not " + n + " integers");
    }
    for (int i = 0; i < n; i++) out[i] = (int) a[i];
    return out;
  }
}
