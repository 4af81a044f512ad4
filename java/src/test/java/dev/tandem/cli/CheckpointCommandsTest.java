package dev.tandem.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tandem.io.DType;
import dev.tandem.model.LlamaConfig;
import dev.tandem.model.ModelWeights;
import dev.tandem.tokenizer.ByteLevelBpeTokenizer;
import dev.tandem.tokenizer.TokenizerJson;
import dev.tandem.tokenizer.VocabFixtures;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** tandem tokenize, convert and generate (--chat, GGUF models) through the command line. */
class CheckpointCommandsTest {
  @TempDir Path dir;

  record Run(int exit, String out, String err) {}

  private static synchronized Run run(String... args) {
    PrintStream saved = System.out;
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    StringWriter err = new StringWriter();
    try {
      System.setOut(new PrintStream(bytes, true, StandardCharsets.UTF_8));
      CommandLine cli = Main.commandLine();
      cli.setErr(new PrintWriter(err, true));
      int exit = cli.execute(args);
      return new Run(exit, bytes.toString(StandardCharsets.UTF_8), err.toString());
    } finally {
      System.setOut(saved);
    }
  }

  @Test
  void tokenizeFromGgufTokenizerJsonAndModelDirectory() throws IOException {
    Path gguf = VocabFixtures.unpackGguf("llama-spm", dir);
    assertThat(run("tokenize", "--tokenizer", gguf.toString(), "--text", "Hello world").out()).isEqualTo("15043 3186\n");
    JsonNode json = new ObjectMapper().readTree(run("tokenize", "--tokenizer", gguf.toString(), "--text",
        "Hello world", "--json").out());
    assertThat(json.path("ids").toString()).isEqualTo("[15043,3186]");
    assertThat(json.path("tokens").toString()).isEqualTo("[\"\u2581Hello\",\"\u2581world\"]");
    assertThat(run("tokenize", "--tokenizer", gguf.toString(), "--decode", "15043,3186,99999").out())
        .isEqualTo(" Hello world\uFFFD\n");
    Path text = Files.writeString(dir.resolve("t.txt"), "Hello world");
    assertThat(run("tokenize", "--tokenizer", gguf.toString(), "--file", text.toString()).out()).isEqualTo("15043 3186\n");

    Path model = dir.resolve("model");
    ModelWeights.random(new LlamaConfig(258, 32, 48, 1, 2, 1, 10000.0, 1e-5, 64, false, "float32"), 1, 0.1)
        .save(model, DType.F32);
    TokenizerJson.save(ByteLevelBpeTokenizer.bytes(List.of("<|endoftext|>")), model.resolve("tokenizer.json"));
    assertThat(run("tokenize", "--tokenizer", model.toString(), "--text", "ab<|endoftext|>").out())
        .isEqualTo("97 98 256\n");
    assertThat(run("tokenize", "--tokenizer", model.resolve("tokenizer.json").toString(), "--text", "a").out())
        .isEqualTo("97\n");
    Run missing = run("tokenize", "--tokenizer", dir.resolve("nope").toString(), "--text", "a");
    assertThat(missing.exit()).isEqualTo(Main.EXIT_BAD_INPUT);
    assertThat(missing.err()).contains("nope");
  }

  @Test
  void convertBothWaysAndGenerateFromGgufWithChat() throws IOException {
    Path model = dir.resolve("model");
    ModelWeights.random(new LlamaConfig(260, 32, 48, 2, 2, 1, 10000.0, 1e-5, 64, false, "float32"), 3, 0.5)
        .save(model, DType.BF16);
    TokenizerJson.save(ByteLevelBpeTokenizer.bytes(List.of("<|endoftext|>", "<|im_start|>", "<|im_end|>")),
        model.resolve("tokenizer.json"));
    Files.writeString(model.resolve("tokenizer_config.json"), "{\"eos_token\": \"<|im_end|>\", \"chat_template\": "
        + "\"{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\\\n' + message['content'] + "
        + "'<|im_end|>' + '\\\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\\\n' }}{% endif %}\"}");
    Path gguf = dir.resolve("m.gguf");
    Run convert = run("convert", "--in", model.toString(), "--out", gguf.toString());
    assertThat(convert.exit()).as(convert.err()).isZero();
    Path back = dir.resolve("back");
    assertThat(run("convert", "--in", gguf.toString(), "--out", back.toString()).exit()).isZero();
    assertThat(Files.readAllBytes(back.resolve("model.safetensors")))
        .isEqualTo(Files.readAllBytes(model.resolve("model.safetensors")));

    Run plain = run("generate", "--model", gguf.toString(), "--prompt", "hi", "--max-tokens", "4", "--json");
    assertThat(plain.exit()).as(plain.err()).isZero();
    JsonNode p = new ObjectMapper().readTree(plain.out());
    assertThat(p.path("prompt_tokens").toString()).isEqualTo("[104,105]");
    Run chat = run("generate", "--model", gguf.toString(), "--prompt", "hi", "--chat", "--system", "S",
        "--max-tokens", "4", "--json");
    assertThat(chat.exit()).as(chat.err()).isZero();
    JsonNode c = new ObjectMapper().readTree(chat.out());
    // <|im_start|>system\nS<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n
    assertThat(c.path("prompt_tokens").get(0).asInt()).isEqualTo(257);
    assertThat(c.path("prompt_tokens").size()).isEqualTo(1 + 6 + 1 + 1 + 1 + 1 + 1 + 4 + 1 + 2 + 1 + 1 + 1 + 9 + 1);
    // The same model from the directory generates the same tokens.
    Run fromDir = run("generate", "--model", model.toString(), "--prompt", "hi", "--chat", "--system", "S",
        "--max-tokens", "4", "--json");
    assertThat(new ObjectMapper().readTree(fromDir.out()).path("tokens")).isEqualTo(c.path("tokens"));

    Files.writeString(model.resolve("tokenizer_config.json"), "{\"chat_template\": \"[INST] {{ x }}\"}");
    Run unsupported = run("generate", "--model", model.toString(), "--prompt", "hi", "--chat");
    assertThat(unsupported.exit()).isEqualTo(Main.EXIT_BAD_INPUT);
    assertThat(unsupported.err()).contains("chat template is not supported");
    Run wrongWay = run("convert", "--in", model.toString(), "--out", dir.resolve("other").toString());
    assertThat(wrongWay.exit()).isEqualTo(Main.EXIT_BAD_INPUT);
    assertThat(wrongWay.err()).contains("from a model directory to a .gguf file");
  }
}
