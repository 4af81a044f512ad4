package dev.tandem.checkpoint;

import dev.tandem.model.ModelWeights;
import dev.tandem.tokenizer.Tokenizer;
import java.nio.file.Path;

/**
 * A model read by {@link ModelLoader}: its weights (fp32 on the host), its tokenizer (null when the
 * checkpoint has none) and its generation defaults.
 *
 * @param source the model directory or GGUF file it was read from
 */
public record LoadedModel(Path source, ModelWeights weights, Tokenizer tokenizer, GenerationDefaults defaults) {

  /** Context length to serve: the requested one, or max_position_embeddings capped at {@code cap}. */
  public int contextLength(Integer requested, int cap) {
    int max = weights.config().maxPositionEmbeddings();
    if (requested == null) return Math.min(max, cap);
    if (requested <= 0 || requested > max) {
      throw new IllegalArgumentException("--context " + requested + " outside [1, max_position_embeddings=" + max + "]");
    }
    return requested;
  }

  /** The token ids of a prompt text: BOS first when the checkpoint asks for it, then the encoded text. */
  public int[] promptTokens(String text) {
    if (tokenizer == null) throw new IllegalArgumentException(source + " has no tokenizer");
    return defaults.promptTokens(tokenizer, text);
  }

}
