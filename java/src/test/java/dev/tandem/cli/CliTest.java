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
    assertOneLineExit1(noPrompt, "prompt");
  }

  /** Issue 18, item 7: a bad option value is one line and exit 1, not a usage dump and exit 2. */
  @Test
  void badOptionValuesAreOneLineAndExitStatus1() {
    String m = model.toString();
    assertOneLineExit1(run("generate", "--model", m, "--prompt", "x", "--max-tokens", "1000000000000"),
        "'1000000000000' is out of range (at most 2147483647)");
    assertOneLineExit1(run("generate", "--model", m, "--prompt-tokens", "1,abc"), "'abc' is not an integer");
    assertOneLineExit1(run("speed", "--primary", m, "--drafter", m, "--prompt", "x", "--router-rule", "bogus"),
        "--router-rule");
    assertOneLineExit1(run("init", "--config", "c.json", "--out", dir.resolve("q").toString(), "--dtype", "Q4"),
        "'Q4'");
    assertOneLineExit1(run("generate", "--model", m, "--prompt", "x", "--no-such-option"), "--no-such-option");
    assertOneLineExit1(run("generate", "--prompt", "x"), "--model");
  }

  /** Issue 18, item 9: a malformed or out-of-range config.json is one line naming the file and the place. */
  @Test
  void malformedConfigIsOneLineWithThePlace() throws Exception {
    Path bad = Files.createDirectories(dir.resolve("bad-config"));
    Files.writeString(bad.resolve("config.json"), "{\"vocab_size\": 300,,}");
    Run r = run("generate", "--model", bad.toString(), "--prompt", "x");
    assertOneLineExit1(r, "config.json: malformed JSON: ");
    assertThat(r.err()).contains("(line 1, column 20)").doesNotContain("REDACTED");

    Path huge = dir.resolve("huge.json");
    Files.writeString(huge, Files.readString(dir.resolve("config.json")).replace("\"vocab_size\": 300",
        "\"vocab_size\": 1000000000000"));
    Run tooLarge = run("init", "--config", huge.toString(), "--out", dir.resolve("huge").toString());
    assertOneLineExit1(tooLarge, "\"vocab_size\" is 1000000000000, out of range (at most 2147483647)");
  }

  /** Issue 18, item 5: an output path that is a file is named as such (it printed only the path). */
  @Test
  void initOutputThatIsAFileIsNamed() throws Exception {
    Path file = Files.writeString(dir.resolve("README.md"), "not a directory");
    assertOneLineExit1(run("init", "--config", dir.resolve("config.json").toString(), "--out", file.toString()),
        "--out " + file + " is a file");
  }

  /** Issue 18, item 8: --threads is bounded by the cores (10,000 threads took 42 s for 5 tokens). */
  @Test
  void threadsBeyondTheCoresAreRefused() {
    int cores = Runtime.getRuntime().availableProcessors();
    assertOneLineExit1(run("generate", "--model", model.toString(), "--prompt", "x", "--threads", "10000"),
        "'10000' is not between 0 (all cores) and " + cores);
    assertOneLineExit1(run("generate", "--model", model.toString(), "--prompt", "x", "--threads", "-1"), "'-1'");
    assertOneLineExit1(run("train", "primary", "--threads", "10000", "--run", "r", "--out", "o", "x.txt"), "'10000'");
  }

  /** Issue 18, items 5 and 8: --prompts lines with wrong types, both keys, huge numbers, or bytes that are not UTF-8. */
  @Test
  void promptsFileIsValidated() throws Exception {
    String m = model.toString();
    String[][] cases = {
        {"{\"prompt\": 42}", "line 1: \"prompt\" must be a string, got 42"},
        {"{\"prompt\": \"a\", \"prompt_tokens\": [1]}", "give \"prompt\" or \"prompt_tokens\", not both"},
        {"{\"prompt\": \"a\", \"max_tokens\": 1000000000000}", "\"max_tokens\" must be an integer from 1 to"},
        {"{\"prompt\": \"a\", \"max_tokens\": 0}", "\"max_tokens\" must be an integer from 1 to"},
        {"{\"prompt_tokens\": [1, \"x\"]}", "\"prompt_tokens\" holds \"x\", not a token id"},
        {"{\"prompt_tokens\": 7}", "\"prompt_tokens\" must be an array"},
        {"{\"promt\": \"a\"}", "unknown key \"promt\""},
        {"[1, 2]", "not a JSON object"}};
    for (int i = 0; i < cases.length; i++) {
      Path f = Files.writeString(dir.resolve("prompts" + i + ".jsonl"), "{\"prompt\": \"ok\"}\n" + cases[i][0] + "\n");
      assertOneLineExit1(run("speed", "--primary", m, "--drafter", m, "--prompts", f.toString()),
          cases[i][1].replace("line 1", "line 2"));
    }
    Path bad = dir.resolve("bad-utf8.jsonl");
    Files.write(bad, new byte[] {'{', '"', 'p', 'r', 'o', 'm', 'p', 't', '"', ':', '"', (byte) 0xC3, '"', '}', '\n'});
    assertOneLineExit1(run("speed", "--primary", m, "--drafter", m, "--prompts", bad.toString()),
        "line 1: not UTF-8 text (byte offset 11)");
  }

  /** Issue 18, item 9: speed and generate agree about --max-tokens 0 (both refuse it). */
  @Test
  void maxTokensZeroIsRefusedByGenerateAsBySpeed() {
    assertOneLineExit1(run("generate", "--model", model.toString(), "--prompt", "x", "--max-tokens", "0"),
        "--max-tokens must be >= 1, got 0");
    assertOneLineExit1(run("speed", "--primary", model.toString(), "--drafter", model.toString(), "--prompt", "x",
        "--max-tokens", "0"), "--max-tokens must be >= 1, got 0");
  }

  /** Issue 18, item 9: a GGUF file where a model directory is needed says so (it said "directory not found"). */
  @Test
  void ggufWhereADirectoryIsNeededSaysSo() throws Exception {
    Path gguf = dir.resolve("model.gguf");
    if (!Files.exists(gguf)) assertThat(run("convert", "--in", model.toString(), "--out", gguf.toString()).exit()).isZero();
    assertOneLineExit1(run("init-router", "--drafter", gguf.toString(), "--out", dir.resolve("router").toString()),
        gguf + " is a GGUF file; this command reads a model directory: convert it first");
  }

  /** Issue 18, item 5: convert to an unwritable place names the file the user gave, not a temporary. */
  @Test
  void convertToAnUnwritablePlaceNamesTheTarget() throws Exception {
    Path notADirectory = Files.writeString(dir.resolve("plain-file"), "x");
    Run r = run("convert", "--in", model.toString(), "--out", notADirectory.resolve("m.gguf").toString());
    assertOneLineExit1(r, "cannot write " + notADirectory.resolve("m.gguf"));
    assertThat(r.err()).doesNotContain(".tmp");
    // issue 18, item 8: convert never overwrites (it replaced an existing GGUF file silently)
    Path existing = Files.writeString(dir.resolve("existing.gguf"), "not to be replaced");
    assertOneLineExit1(run("convert", "--in", model.toString(), "--out", existing.toString()), "already exists");
    assertThat(Files.readString(existing)).isEqualTo("not to be replaced");
  }

  /** Issue 18, item 5: a file-system error that is only a path gets its reason (it printed "tandem: PATH"). */
  @Test
  void aPathAloneIsNotAMessage() throws Exception {
    Path file = Files.writeString(dir.resolve("notes.txt"), "a file");
    assertOneLineExit1(run("init-router", "--drafter", model.toString(), "--out", file.toString()),
        file + ": already exists");
  }

  static void assertOneLineExit1(Run r, String expected) {
    assertThat(r.exit()).as(r.err()).isEqualTo(1);
    assertThat(r.err().lines().filter(l -> !l.isBlank()).toList()).as(r.err()).hasSize(1);
    assertThat(r.err()).startsWith("tandem: ").contains(expected);
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
