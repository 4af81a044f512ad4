package dev.tandem.tokenizer;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.GZIPInputStream;

/** GPT-2's real tokenizer from the test resources (see the README there), loaded once per test run. */
final class Gpt2Fixture {
  private static ByteLevelBpeTokenizer tokenizer;

  private Gpt2Fixture() {}

  static synchronized ByteLevelBpeTokenizer tokenizer() {
    if (tokenizer == null) {
      try {
        Path dir = Files.createTempDirectory("gpt2-tokenizer");
        Path file = unpack(dir);
        tokenizer = TokenizerJson.loadByteLevelBpe(file);
        Files.delete(file);
        Files.delete(dir);
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
    return tokenizer;
  }

  /** Writes GPT-2's tokenizer.json (the older format: string merges, model without type) into {@code dir}. */
  static Path unpack(Path dir) throws IOException {
    Path file = dir.resolve("gpt2-tokenizer.json");
    try (InputStream in = new GZIPInputStream(ByteLevelBpeTokenizerTest.resource("gpt2-tokenizer.json.gz"))) {
      Files.write(file, in.readAllBytes());
    }
    return file;
  }
}
