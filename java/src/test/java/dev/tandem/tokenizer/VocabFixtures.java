package dev.tandem.tokenizer;

import dev.tandem.io.gguf.GgufFile;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.zip.GZIPInputStream;

/** llama.cpp's tokenizer-only GGUF files and test vectors from the test resources (see the README there). */
public final class VocabFixtures {
  private static Tokenizer llamaSpm;
  private static Tokenizer gpt2;

  private VocabFixtures() {}

  /** One test case: a text and the ids llama.cpp gives it. */
  public record Case(String text, int[] ids) {}

  /** Unpacks {@code ggml-vocab-NAME.gguf.gz} into {@code dir}. */
  public static Path unpackGguf(String name, Path dir) throws IOException {
    Path file = dir.resolve("ggml-vocab-" + name + ".gguf");
    try (InputStream in = new GZIPInputStream(ByteLevelBpeTokenizerTest.resource("ggml-vocab-" + name + ".gguf.gz"))) {
      Files.write(file, in.readAllBytes());
    }
    return file;
  }

  /** Llama 2's SentencePiece tokenizer, read from llama.cpp's GGUF. */
  public static synchronized Tokenizer llamaSpm() {
    if (llamaSpm == null) llamaSpm = load("llama-spm");
    return llamaSpm;
  }

  /** GPT-2's tokenizer, read from llama.cpp's GGUF. */
  public static synchronized Tokenizer gpt2() {
    if (gpt2 == null) gpt2 = load("gpt-2");
    return gpt2;
  }

  private static Tokenizer load(String name) {
    try {
      Path dir = Files.createTempDirectory("vocab");
      Path file = unpackGguf(name, dir);
      try (GgufFile f = GgufFile.open(file)) {
        return GgufTokenizer.load(f);
      } finally {
        Files.delete(file);
        Files.delete(dir);
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The cases of {@code PREFIX-vectors.inp/.out}. */
  public static List<Case> cases(String prefix) throws IOException {
    List<String> inputs = new ArrayList<>(List.of(ByteLevelBpeTokenizerTest.resourceText(prefix + "-vectors.inp")
        .split("\n__ggml_vocab_test__\n", -1)));
    inputs.removeLast(); // the file ends with a separator
    List<String> outputs = ByteLevelBpeTokenizerTest.resourceText(prefix + "-vectors.out").lines().toList();
    if (inputs.size() != outputs.size()) throw new AssertionError(inputs.size() + " inputs, " + outputs.size() + " outputs");
    List<Case> cases = new ArrayList<>();
    for (int i = 0; i < inputs.size(); i++) {
      int[] ids = outputs.get(i).isBlank() ? new int[0]
          : Arrays.stream(outputs.get(i).trim().split(" ")).mapToInt(Integer::parseInt).toArray();
      cases.add(new Case(inputs.get(i), ids));
    }
    return cases;
  }
}
