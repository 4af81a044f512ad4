package dev.tandem.checkpoint;

import java.util.Arrays;

/**
 * What a checkpoint says about generating with it, from tokenizer_config.json and
 * generation_config.json (or the GGUF keys).
 *
 * @param addBos       whether prompts start with the BOS token ({@code add_bos_token}, or the
 *                     tokenizer.json post-processor, or GGUF's {@code tokenizer.ggml.add_bos_token})
 * @param stopTokens   ids that end generation: EOS and generation_config's {@code eos_token_id}s
 * @param chatTemplate the Jinja chat template text, or null
 */
public record GenerationDefaults(boolean addBos, int[] stopTokens, String chatTemplate) {
  public GenerationDefaults {
    stopTokens = Arrays.stream(stopTokens).distinct().toArray();
  }

  public static final GenerationDefaults NONE = new GenerationDefaults(false, new int[0], null);

  /** A prompt's ids: BOS first when the checkpoint asks for it (and has one), then the encoded text. */
  public int[] promptTokens(dev.tandem.tokenizer.Tokenizer tokenizer, String text) {
    int[] ids = tokenizer.encode(text);
    if (!addBos || tokenizer.bosId().isEmpty()) return ids;
    int[] withBos = new int[ids.length + 1];
    withBos[0] = tokenizer.bosId().getAsInt();
    System.arraycopy(ids, 0, withBos, 1, ids.length);
    return withBos;
  }

  @Override
  public int[] stopTokens() {
    return stopTokens.clone();
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof GenerationDefaults g && g.addBos == addBos && Arrays.equals(g.stopTokens, stopTokens)
        && java.util.Objects.equals(g.chatTemplate, chatTemplate);
  }

  @Override
  public int hashCode() {
    return Boolean.hashCode(addBos) * 31 + Arrays.hashCode(stopTokens);
  }
}
