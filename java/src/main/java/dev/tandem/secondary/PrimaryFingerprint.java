package dev.tandem.secondary;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tandem.model.LlamaConfig;
import dev.tandem.tokenizer.Tokenizer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * What a tandem secondary (or a drafter) must know of the primary it was trained against: the
 * primary's architecture and a hash of its vocabulary. Loading a secondary against another primary
 * is refused with the first difference named.
 *
 * @param hiddenSize      the primary's width d_P (the projections' input width)
 * @param numHiddenLayers the primary's layer count L_P (the layer map's range)
 * @param vocabSize       the primary's vocabulary size
 * @param architecture    sha256 of the primary's architecture fields
 * @param vocabulary      sha256 of the primary's tokenizer.json vocabulary, or "" when it has none
 */
public record PrimaryFingerprint(int hiddenSize, int numHiddenLayers, int vocabSize, String architecture,
    String vocabulary) {

  public static PrimaryFingerprint of(LlamaConfig primary, String vocabularyHash) {
    String arch = String.join(",", "llama", "hidden=" + primary.hiddenSize(),
        "intermediate=" + primary.intermediateSize(), "layers=" + primary.numHiddenLayers(),
        "heads=" + primary.numAttentionHeads(), "kv_heads=" + primary.numKeyValueHeads(),
        "vocab=" + primary.vocabSize(), "rope_theta=" + primary.ropeTheta(), "eps=" + primary.rmsNormEps(),
        "tied=" + primary.tieWordEmbeddings())
        // Only where they differ from a plain Llama, so that the fingerprints of earlier checkpoints stay valid.
        + (primary.modelType().equals(LlamaConfig.LLAMA) ? "" : ",model_type=" + primary.modelType())
        + (primary.ropeScaling().type() == dev.tandem.model.RopeScaling.Type.NONE ? ""
            : ",rope_scaling=" + primary.ropeScaling());
    return new PrimaryFingerprint(primary.hiddenSize(), primary.numHiddenLayers(), primary.vocabSize(), sha256(arch),
        vocabularyHash == null ? "" : vocabularyHash);
  }

  /** sha256 over the tokenizer's tokens in id order (one per line), the vocabulary part of a fingerprint. */
  public static String vocabularyHash(Tokenizer tokenizer) {
    StringBuilder all = new StringBuilder();
    for (int id = 0; id < tokenizer.vocabSize(); id++) all.append(tokenizer.token(id)).append('\n');
    return sha256(all.toString());
  }

  /** Hex sha256 of a UTF-8 string. */
  public static String sha256(String text) {
    return sha256(text.getBytes(StandardCharsets.UTF_8));
  }

  public static String sha256(byte[] bytes) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /** Throws naming the first difference when {@code actual} is not the primary this was made for. */
  public void requireMatches(PrimaryFingerprint actual, String what) {
    if (hiddenSize != actual.hiddenSize) {
      throw new IllegalArgumentException(what + " was trained against a primary of hidden_size " + hiddenSize
          + ", this primary has " + actual.hiddenSize);
    }
    if (numHiddenLayers != actual.numHiddenLayers) {
      throw new IllegalArgumentException(what + " was trained against a primary of " + numHiddenLayers
          + " layers, this primary has " + actual.numHiddenLayers);
    }
    if (vocabSize != actual.vocabSize) {
      throw new IllegalArgumentException(what + " was trained against a primary with a vocabulary of " + vocabSize
          + " tokens, this primary has " + actual.vocabSize);
    }
    if (!architecture.equals(actual.architecture)) {
      throw new IllegalArgumentException(what + " was trained against a primary of another architecture"
          + " (intermediate size, heads, RoPE or norm settings differ)");
    }
    if (!vocabulary.isEmpty() && !actual.vocabulary.isEmpty() && !vocabulary.equals(actual.vocabulary)) {
      throw new IllegalArgumentException(what + " was trained against a primary with another tokenizer"
          + " (the vocabularies' hashes differ)");
    }
  }

  public ObjectNode toJson() {
    ObjectNode n = JsonNodeFactory.instance.objectNode();
    n.put("hidden_size", hiddenSize);
    n.put("num_hidden_layers", numHiddenLayers);
    n.put("vocab_size", vocabSize);
    n.put("architecture_sha256", architecture);
    n.put("vocabulary_sha256", vocabulary);
    return n;
  }

  public static PrimaryFingerprint fromJson(JsonNode n) {
    if (n == null || !n.isObject()) throw new IllegalArgumentException("missing \"primary\" fingerprint");
    for (String f : new String[] {"hidden_size", "num_hidden_layers", "vocab_size", "architecture_sha256"}) {
      if (!n.has(f)) throw new IllegalArgumentException("primary fingerprint lacks \"" + f + "\"");
    }
    return new PrimaryFingerprint(n.get("hidden_size").asInt(), n.get("num_hidden_layers").asInt(),
        n.get("vocab_size").asInt(), n.get("architecture_sha256").asText(), n.path("vocabulary_sha256").asText(""));
  }
}
