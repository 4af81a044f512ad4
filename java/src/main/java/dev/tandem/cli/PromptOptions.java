package dev.tandem.cli;

import dev.tandem.tokenizer.Tokenizer;
import picocli.CommandLine.Option;

/** --prompt TEXT or --prompt-tokens 1,2,3: used as an exclusive {@code @ArgGroup}. */
public final class PromptOptions {
  @Option(names = "--prompt", description = "Prompt text (needs the model's tokenizer.json).")
  String text;

  @Option(names = "--prompt-tokens", split = ",", description = "Prompt as token ids, e.g. 1,2,3.")
  int[] ids;

  /** The prompt's token ids; {@code tokenizer} may be null when ids are given. */
  int[] tokens(Tokenizer tokenizer, String modelDescription) {
    if (ids != null) {
      if (ids.length == 0) throw new IllegalArgumentException("--prompt-tokens is empty");
      return ids;
    }
    if (tokenizer == null) {
      throw new IllegalArgumentException(modelDescription + " has no tokenizer.json: give the prompt as --prompt-tokens");
    }
    int[] encoded = tokenizer.encode(text);
    if (encoded.length == 0) throw new IllegalArgumentException("the prompt is empty");
    return encoded;
  }
}
