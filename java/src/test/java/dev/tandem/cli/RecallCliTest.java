package dev.tandem.cli;

import static dev.tandem.cli.CliTest.run;
import static dev.tandem.cli.SpeedCliTest.ok;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tandem.tokenizer.Tokenizer;
import dev.tandem.tokenizer.TokenizerJson;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** tandem data recall, tandem train tokenizer --whole-words and tandem eval --recall end to end. */
class RecallCliTest {
  @TempDir static Path dir;
  static Path tokenizer, primary, secondary, drafter;

  @BeforeAll
  static void models() throws Exception {
    Path text = dir.resolve("train.txt");
    ok(run("data", "recall", "--seed", "1", "--sequences", "50", "--keys", "6", "--values", "6", "--pairs", "4",
        "--length", "16", "--out", text.toString()));
    ok(run("train", "tokenizer", "--whole-words", "--vocab", "400", "--val-fraction", "0", "--out",
        dir.resolve("tok").toString(), text.toString()));
    tokenizer = dir.resolve("tok/tokenizer.json");
    primary = dir.resolve("primary");
    secondary = dir.resolve("secondary");
    drafter = dir.resolve("drafter");
    ok(run("init", "--config", SpeedCliTest.config(dir, "p", 32, 3, 280).toString(), "--out", primary.toString(),
        "--seed", "1", "--tokenizer", tokenizer.toString()));
    ok(run("init", "--config", SpeedCliTest.config(dir, "s", 16, 1, 280).toString(), "--out", secondary.toString(),
        "--secondary-of", primary.toString()));
    ok(run("init", "--config", SpeedCliTest.config(dir, "d", 16, 1, 280).toString(), "--out", drafter.toString(),
        "--tokenizer", tokenizer.toString()));
  }

  @Test
  void theTextIsDeterministicInItsSeedAndEveryWordIsOneToken() throws Exception {
    Path a = dir.resolve("a.txt"), b = dir.resolve("b.txt"), c = dir.resolve("c.txt");
    for (var p : List.of(List.of("5", a), List.of("5", b), List.of("6", c))) {
      ok(run("data", "recall", "--seed", (String) p.get(0), "--sequences", "30", "--keys", "6", "--values", "6",
          "--pairs", "4", "--length", "16", "--out", p.get(1).toString()));
    }
    assertThat(Files.readString(a)).isEqualTo(Files.readString(b)).isNotEqualTo(Files.readString(c));
    Tokenizer t = TokenizerJson.load(tokenizer);
    assertThat(t.vocabSize()).isEqualTo(256 + 12 + 1);  // bytes, k0..k5 and v0..v5, <|endoftext|>
    List<String> lines = Files.readAllLines(c);
    assertThat(lines).hasSize(30);
    // Every line is --length tokens with its newline, so the file packs into sequences that start at a marker.
    assertThat(t.encode(Files.readString(c))).hasSize(30 * 16);
    for (String line : lines) assertThat(t.encode(line)).hasSize(15);
  }

  @Test
  void badOptionsEndWithOneLineAndStatus1() {
    CliTest.Run r = run("data", "recall", "--seed", "1", "--sequences", "3", "--keys", "3", "--pairs", "4", "--out",
        dir.resolve("x.txt").toString());
    assertThat(r.exit()).isEqualTo(1);
    assertThat(r.err().strip()).isEqualTo("tandem: --keys (3) must be >= the pairs (4)");
    assertThat(dir.resolve("x.txt")).doesNotExist();
  }

  @Test
  void evalSplitsDeterminedPositionsFromTheRest() throws Exception {
    // Hand-made lines. Line 1: | k1 v1 k2 v2 k3 v3 k2 v2 k3 v3 k1 (12 tokens): the first repeat is k2 at token 7,
    // so tokens 8..11 are determined. Blocks of 2 score the tokens after positions 0, 2, 4, ...: tokens 1, 3, 5,
    // 7, 9, 11, of which 9 and 11 are determined. Line 2: | k4 v4 k5 v5 k4 v4 k5 (8 tokens): first repeat k4 at
    // 5, tokens 6 and 7 determined; scored tokens 1, 3, 5, 7: 7 is determined.
    Path data = dir.resolve("hand.txt");
    Files.writeString(data, "| k1 v1 k2 v2 k3 v3 k2 v2 k3 v3 k1\n| k4 v4 k5 v5 k4 v4 k5\n");
    Path dump = dir.resolve("dump.jsonl");
    for (Path small : List.of(secondary, drafter)) {
      CliTest.Run r = run("eval", "--primary", primary.toString(), "--secondary", small.toString(), "--data",
          data.toString(), "--recall", "--json", "--dump", dump.toString());
      ok(r);
      JsonNode json = new ObjectMapper().readTree(r.out());
      JsonNode determined = json.get("determined"), rest = json.get("rest");
      assertThat(determined.get("positions").asInt()).isEqualTo(3);
      assertThat(rest.get("positions").asInt()).isEqualTo(7);
      assertThat(json.get("positions").asInt()).isEqualTo(10);
      // The groups' figures are those of their positions in the dump (a position predicts the token after it).
      List<JsonNode> rows = Files.readAllLines(dump).stream().map(RecallCliTest::parse).toList();
      assertThat(rows.stream().filter(n -> n.get("determined").asBoolean()).map(n -> n.get("position").asInt()))
          .containsExactly(8, 10, 12 + 6);
      for (String group : List.of("determined", "rest")) {
        boolean d = group.equals("determined");
        List<JsonNode> g = rows.stream().filter(n -> n.get("determined").asBoolean() == d).toList();
        double accuracy = g.stream().filter(n -> n.get("argmax").asInt() == n.get("true_token").asInt()).count()
            / (double) g.size();
        double primaryAccuracy = g.stream().filter(n -> n.get("primary_argmax").asInt() == n.get("true_token").asInt())
            .count() / (double) g.size();
        double tv = g.stream().mapToDouble(n -> n.get("total_variation").asDouble()).average().orElseThrow();
        assertThat(json.get(group).get("accuracy").asDouble()).isEqualTo(accuracy);
        assertThat(json.get(group).get("primary_accuracy").asDouble()).isEqualTo(primaryAccuracy);
        assertThat(json.get(group).get("total_variation").asDouble()).isCloseTo(tv, org.assertj.core.data.Offset.offset(1e-12));
      }
    }
    CliTest.Run text = run("eval", "--primary", primary.toString(), "--secondary", secondary.toString(), "--data",
        data.toString(), "--recall");
    ok(text);
    assertThat(text.out()).contains("determined       3 positions").contains("rest             7 positions");
  }

  /** A models/recall layout with random weights and the task's default tokenizer (64 keys, 64 values). */
  static Path recallModels() throws Exception {
    Path text = dir.resolve("defaults.txt");
    ok(run("data", "recall", "--seed", "1", "--sequences", "100", "--out", text.toString()));
    Path m = dir.resolve("recall");
    ok(run("train", "tokenizer", "--whole-words", "--vocab", "4096", "--val-fraction", "0", "--out",
        m.resolve("tokenizer").toString(), text.toString()));
    Path tok = m.resolve("tokenizer/tokenizer.json");
    java.util.function.BiFunction<Integer, Integer, Path> config = (hidden, layers) -> {
      Path file = dir.resolve("c" + hidden + "x" + layers + ".json");
      try {
        Files.writeString(file, """
            {"vocab_size": 400, "hidden_size": %d, "intermediate_size": %d, "num_hidden_layers": %d,
             "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 160}"""
            .formatted(hidden, 2 * hidden, layers));
      } catch (java.io.IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
      return file;
    };
    Path primary = m.resolve("primary");
    ok(run("init", "--config", config.apply(32, 4).toString(), "--out", primary.toString(), "--tokenizer",
        tok.toString()));
    ok(run("init", "--config", config.apply(32, 4).toString(), "--out", m.resolve("control-random-primary").toString(),
        "--seed", "9", "--tokenizer", tok.toString()));
    for (String plain : List.of("drafter", "drafter-distil")) {
      ok(run("init", "--config", config.apply(16, 1).toString(), "--out", m.resolve(plain).toString(), "--tokenizer",
          tok.toString()));
    }
    ok(run("init", "--config", config.apply(16, 2).toString(), "--out", m.resolve("control-drafter-2layer").toString(),
        "--tokenizer", tok.toString()));
    for (String tandem : List.of("tandem-ce", "tandem-distil", "control-tandem-random")) {
      ok(run("init", "--config", config.apply(16, 1).toString(), "--out", m.resolve(tandem).toString(),
          "--secondary-of", primary.toString()));
    }
    ok(run("init-router", "--drafter", m.resolve("tandem-distil").toString(), "--out", m.resolve("router").toString(),
        "--threshold", "0.5"));
    return m;
  }

  @Test
  void demoAndPaperBenchRunOnRecallModels() throws Exception {
    Path m = recallModels();
    CliTest.Run demo = run("demo", "--task", "recall", "--models", m.toString(), "--max-tokens", "6", "--repeats", "1",
        "--device", "cpu");
    ok(demo);
    assertThat(demo.out()).contains("primary alone").contains("SPEED, Tandem-Distil secondary").contains("gamma 4 (fixed)")
        .doesNotContain(" NO").doesNotContain("Also: ./tandem demo --task recall");
    // The prompt is a held-out line cut inside the repeat: the marker and the 16 pairs, then 7 repeated words.
    assertThat(demo.out()).containsPattern("prompt: \\|( [kv][0-9]+){19,31}\\n");
    Path heldOut = dir.resolve("heldout.txt");
    ok(run("data", "recall", "--seed", "3", "--sequences", "6", "--out", heldOut.toString()));
    Path report = dir.resolve("paper-recall.md");
    CliTest.Run r = run("bench", "paper", "--task", "recall", heldOut.toString(), "--models", m.toString(), "--out",
        report.toString(), "--eval-positions", "200", "--prompts", "2", "--max-tokens", "6", "--gammas", "2,4",
        "--gamma-max", "4", "--device", "cpu", "--repeats", "1");
    ok(r);
    String md = Files.readString(report);
    assertThat(md).contains("(recall models)").contains("| model | determined: accuracy | determined: TV distance |")
        .contains("Control: two-layer plain drafter (CE)").contains("Control: Tandem-CE trained on a random primary's")
        .contains("Control: Tandem-Distil reading a random primary's states").contains("closes")
        .contains("## Table 2").contains("## Tables 4 and 5").contains("the repeat's first 7 words")
        .doesNotContain("| NO |");
    CliTest.Run bad = run("bench", "paper", "--task", "poems", heldOut.toString(), "--models", m.toString());
    assertThat(bad.exit()).isEqualTo(1);
    assertThat(bad.err()).contains("--task must be text or recall");
  }

  private static JsonNode parse(String line) {
    try {
      return new ObjectMapper().readTree(line);
    } catch (Exception e) {
      throw new AssertionError(e);
    }
  }
}
