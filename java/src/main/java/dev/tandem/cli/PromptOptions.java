package dev.tandem.cli;

import dev.tandem.tokenizer.Tokenizer;
import picocli.CommandLine.Option;

/** --prompt TEXT or --prompt-tokens 1,2,3: used as an exclusive {@code @ArgGroup}. */
public final class PromptOptions {
  @Option(names = "--prompt", description = "Prompt text (needs the model's tokenizer.json).")
  String text;

  @Option(names = "--prompt-tokens", split = ",", description = "Prompt as token ids, e.g. 1,2,3.")
  int[] ids;

  /** One line of a --prompts file: the prompt, and its max_tokens (the default when absent). */
  record Line(PromptOptions prompt, int maxTokens) {}

  /**
   * The lines of a --prompts file, refusing bytes that are not UTF-8 with the line and byte offset
   * (a MalformedInputException says only "Input length = 1").
   */
  static java.util.List<String> readLines(java.nio.file.Path file) throws java.io.IOException {
    byte[] bytes = java.nio.file.Files.readAllBytes(file);
    var decoder = java.nio.charset.StandardCharsets.UTF_8.newDecoder()
        .onMalformedInput(java.nio.charset.CodingErrorAction.REPORT)
        .onUnmappableCharacter(java.nio.charset.CodingErrorAction.REPORT);
    java.nio.ByteBuffer in = java.nio.ByteBuffer.wrap(bytes);
    java.nio.CharBuffer out = java.nio.CharBuffer.allocate(bytes.length + 1);
    var result = decoder.decode(in, out, true);
    if (result.isError()) {
      int offset = in.position(), line = 1;
      for (int i = 0; i < offset; i++) if (bytes[i] == '\n') line++;
      throw new java.io.IOException(file + " line " + line + ": not UTF-8 text (byte offset " + offset + ")");
    }
    out.flip();
    return out.toString().lines().toList();
  }

  /**
   * A --prompts line, {@code {"prompt": TEXT}} or {@code {"prompt_tokens": [ids]}}, with an optional
   * {@code "max_tokens"}: wrong types, both prompt keys, unknown keys and out-of-range numbers are
   * refused with the line number instead of being read as something else.
   */
  static Line parse(com.fasterxml.jackson.databind.JsonNode node, String where, int defaultMaxTokens)
      throws java.io.IOException {
    if (node == null || !node.isObject()) throw new java.io.IOException(where + ": not a JSON object");
    for (var names = node.fieldNames(); names.hasNext(); ) {
      String key = names.next();
      if (!java.util.Set.of("prompt", "prompt_tokens", "max_tokens").contains(key)) {
        throw new java.io.IOException(where + ": unknown key \"" + key + "\" (known: prompt, prompt_tokens, max_tokens)");
      }
    }
    PromptOptions p = new PromptOptions();
    if (node.has("prompt") && node.has("prompt_tokens")) {
      throw new java.io.IOException(where + ": give \"prompt\" or \"prompt_tokens\", not both");
    }
    if (node.has("prompt_tokens")) {
      var ids = node.get("prompt_tokens");
      if (!ids.isArray()) throw new java.io.IOException(where + ": \"prompt_tokens\" must be an array of token ids");
      p.ids = new int[ids.size()];
      for (int i = 0; i < p.ids.length; i++) {
        if (!ids.get(i).isIntegralNumber() || !ids.get(i).canConvertToInt() || ids.get(i).asInt() < 0) {
          throw new java.io.IOException(where + ": \"prompt_tokens\" holds " + ids.get(i) + ", not a token id");
        }
        p.ids[i] = ids.get(i).asInt();
      }
    } else if (node.has("prompt")) {
      if (!node.get("prompt").isTextual()) {
        throw new java.io.IOException(where + ": \"prompt\" must be a string, got " + node.get("prompt"));
      }
      p.text = node.get("prompt").asText();
    } else {
      throw new java.io.IOException(where + ": needs \"prompt\" or \"prompt_tokens\"");
    }
    int max = defaultMaxTokens;
    if (node.has("max_tokens")) {
      var m = node.get("max_tokens");
      if (!m.isIntegralNumber() || !m.canConvertToInt() || m.asInt() < 1) {
        throw new java.io.IOException(where + ": \"max_tokens\" must be an integer from 1 to " + Integer.MAX_VALUE
            + ", got " + m);
      }
      max = m.asInt();
    }
    return new Line(p, max);
  }

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
