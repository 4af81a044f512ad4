package dev.tandem.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The command line end to end: init, generate, bench decode, and bad input. */
class CliTest {
  @TempDir static Path dir;
  static Path model;

  record Run(int exit, String out, String err) {}

  static synchronized Run run(String... args) {
    PrintStream oldOut = System.out, oldErr = System.err;
    ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
    StringWriter picocliErr = new StringWriter();
    try {
      System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
      System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
      var cli = Main.commandLine();
      cli.setErr(new PrintWriter(picocliErr, true));
      int exit = cli.execute(args);
      return new Run(exit, out.toString(StandardCharsets.UTF_8),
          err.toString(StandardCharsets.UTF_8) + picocliErr);
    } finally {
      System.setOut(oldOut);
      System.setErr(oldErr);
    }
  }

  @BeforeAll
  static void initModel() throws Exception {
    Path config = dir.resolve("config.json");
    Files.writeString(config, """
        {"vocab_size": 300, "hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 2,
         "num_attention_heads": 4, "num_key_value_heads": 2, "rope_theta": 10000.0, "rms_norm_eps": 1e-5,
         "max_position_embeddings": 64, "tie_word_embeddings": true}""");
    model = dir.resolve("model");
    Run init = run("init", "--config", config.toString(), "--out", model.toString(), "--seed", "5");
    assertThat(init.exit()).as(init.err()).isZero();
    assertThat(model.resolve("model.safetensors")).exists();
    assertThat(model.resolve("tokenizer.json")).exists();
  }

  /** convert --quantize writes a GGUF whose matrices bench decode reads as stored (or as fp32 with --dtype fp32). */
  @Test
  void quantizedConversionAndStoredDecode() throws Exception {
    Path gguf = dir.resolve("q8.gguf");
    Run convert = run("convert", "--in", model.toString(), "--out", gguf.toString(), "--quantize", "q8_0");
    assertThat(convert.exit()).as(convert.err()).isZero();
    for (String dtype : new String[] {"stored", "fp32"}) {
      Run bench = run("bench", "decode", "--model", gguf.toString(), "--device", "cpu", "--dtype", dtype, "--tokens", "2",
          "--prompt-length", "2", "--repeats", "1", "--blocks", "1,2", "--json");
      assertThat(bench.exit()).as(bench.err()).isZero();
      JsonNode json = new ObjectMapper().readTree(bench.out());
      // ffn_down's rows of 48 are not whole blocks of 32: F16 (two layers); the rest Q8_0
      assertThat(json.path("weight_formats").asText()).isEqualTo(dtype.equals("stored") ? "F16 x2, Q8_0 x13" : "F32 x15");
      assertThat(json.path("resident_file_bytes").asLong()).isPositive();
    }
    Run bad = run("convert", "--in", model.toString(), "--out", dir.resolve("x.gguf").toString(), "--quantize", "Q5_K");
    assertThat(bad.exit()).isEqualTo(1);
    assertThat(bad.err()).contains("--quantize Q5_K: expected Q8_0, Q4_0, Q4_K or Q4_K_M");
  }

  @Test
  void generatesJsonWithTokensTextAndTimings() throws Exception {
    Run r = run("generate", "--model", model.toString(), "--prompt", "Hello", "--max-tokens", "7", "--json",
        "--ignore-eos");
    assertThat(r.exit()).as(r.err()).isZero();
    JsonNode json = new ObjectMapper().readTree(r.out());
    assertThat(json.get("tokens")).hasSize(7);
    assertThat(json.get("prompt_tokens")).hasSize(5);
    assertThat(json.has("text")).isTrue();
    assertThat(json.get("prefill_ms").asDouble()).isPositive();
    assertThat(json.get("finish_reason").asText()).isEqualTo("length");
  }

  @Test
  void samplingIsReproducibleBySeed() throws Exception {
    String[] args = {"generate", "--model", model.toString(), "--prompt-tokens", "1,2,3", "--max-tokens", "12",
        "--temperature", "1.0", "--top-p", "0.9", "--seed", "77", "--json", "--ignore-eos"};
    JsonNode a = new ObjectMapper().readTree(run(args).out());
    JsonNode b = new ObjectMapper().readTree(run(args).out());
    assertThat(a.get("tokens")).isEqualTo(b.get("tokens"));
  }

  @Test
  void streamsTextByDefault() {
    Run r = run("generate", "--model", model.toString(), "--prompt", "ab", "--max-tokens", "3", "--ignore-eos");
    assertThat(r.exit()).as(r.err()).isZero();
    assertThat(r.err()).contains("3 generated");
  }

  @Test
  void badInputGetsAClearMessageAndExitStatus1() {
    Run missing = run("generate", "--model", dir.resolve("nope").toString(), "--prompt", "x");
    assertThat(missing.exit()).isEqualTo(1);
    assertThat(missing.err()).contains("model not found");

    Run tooLong = run("generate", "--model", model.toString(), "--prompt", "x".repeat(64));
    assertThat(tooLong.exit()).isEqualTo(1);
    assertThat(tooLong.err()).contains("the prompt has 64 tokens").contains("context of 64");

    Run badTemperature = run("generate", "--model", model.toString(), "--prompt", "x", "--temperature", "-1");
    assertThat(badTemperature.exit()).isEqualTo(1);
    assertThat(badTemperature.err()).contains("temperature must be");

    Run badTopP = run("generate", "--model", model.toString(), "--prompt", "x", "--temperature", "1", "--top-p",
        "1.5");
    assertThat(badTopP.err()).contains("top-p must be in (0, 1]");

    Run topKWithoutSampling = run("generate", "--model", model.toString(), "--prompt", "x", "--top-k", "5");
    assertThat(topKWithoutSampling.exit()).isEqualTo(1);
    assertThat(topKWithoutSampling.err()).contains("need sampling");

    Run unknownId = run("generate", "--model", model.toString(), "--prompt-tokens", "1,300");
    assertThat(unknownId.exit()).isEqualTo(1);
    assertThat(unknownId.err()).contains("token id 300 outside the vocabulary");

    Run noPrompt = run("generate", "--model", model.toString());
    assertThat(noPrompt.exit()).isEqualTo(2);  // a usage error, reported by picocli
  }

  @Test
  void corruptModelFileIsReported() throws Exception {
    Path broken = dir.resolve("broken");
    Files.createDirectories(broken);
    Files.copy(model.resolve("config.json"), broken.resolve("config.json"));
    byte[] weights = Files.readAllBytes(model.resolve("model.safetensors"));
    Files.write(broken.resolve("model.safetensors"), java.util.Arrays.copyOf(weights, weights.length / 2));
    Run r = run("generate", "--model", broken.toString(), "--prompt-tokens", "1");
    assertThat(r.exit()).isEqualTo(1);
    assertThat(r.err()).contains("model.safetensors");
  }

  @Test
  void benchDecodeReportsBandwidthAndBlockCosts() throws Exception {
    Run r = run("bench", "decode", "--model", model.toString(), "--tokens", "4", "--repeats", "3", "--blocks", "1,4",
        "--prompt-length", "8", "--json");
    assertThat(r.exit()).as(r.err()).isZero();
    JsonNode json = new ObjectMapper().readTree(r.out());
    assertThat(json.get("read_bandwidth_gb_s").asDouble()).isPositive();
    assertThat(json.get("decode_tokens_per_second").asDouble()).isPositive();
    assertThat(json.get("block_passes")).hasSize(2);
  }
}
