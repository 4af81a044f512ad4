package dev.tandem.cli;

import dev.tandem.model.ModelWeights;
import dev.tandem.tokenizer.Tokenizer;
import dev.tandem.tokenizer.TokenizerJson;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** A model directory read for the CLI: weights, and the tokenizer when the directory has one. */
record LoadedModel(Path dir, ModelWeights weights, Tokenizer tokenizer) {
  static final String TOKENIZER_FILE = "tokenizer.json";

  static LoadedModel load(Path dir) throws IOException {
    ModelWeights weights = ModelWeights.load(dir);
    Path tokenizerFile = dir.resolve(TOKENIZER_FILE);
    Tokenizer tokenizer = Files.isRegularFile(tokenizerFile) ? TokenizerJson.load(tokenizerFile) : null;
    if (tokenizer != null && tokenizer.vocabSize() > weights.config().vocabSize()) {
      throw new IOException(tokenizerFile + ": the tokenizer has " + tokenizer.vocabSize()
          + " tokens but the model's vocab_size is " + weights.config().vocabSize());
    }
    return new LoadedModel(dir, weights, tokenizer);
  }

  /** Context length to serve: the requested one, or max_position_embeddings capped at {@code cap}. */
  int contextLength(Integer requested, int cap) {
    int max = weights.config().maxPositionEmbeddings();
    if (requested == null) return Math.min(max, cap);
    if (requested <= 0 || requested > max) {
      throw new IllegalArgumentException("--context " + requested + " outside [1, max_position_embeddings=" + max + "]");
    }
    return requested;
  }
}
