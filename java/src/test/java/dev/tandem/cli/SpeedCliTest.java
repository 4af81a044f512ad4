package dev.tandem.cli;

import static dev.tandem.cli.CliTest.run;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** tandem speed / eval / init --secondary-of / init-router end to end, and their bad-input cases. */
class SpeedCliTest {
  @TempDir static Path dir;
  static Path primary, secondary, drafter, router, otherPrimary;

  static Path config(String name, int hidden, int layers, int vocab) throws Exception {
    return config(dir, name, hidden, layers, vocab);
  }

  static Path config(Path dir, String name, int hidden, int layers, int vocab) throws Exception {
    Path file = dir.resolve(name + ".json");
    Files.writeString(file, """
        {"vocab_size": %d, "hidden_size": %d, "intermediate_size": %d, "num_hidden_layers": %d,
         "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 64}"""
        .formatted(vocab, hidden, hidden * 2, layers));
    return file;
  }

  static void ok(CliTest.Run r) {
    assertThat(r.exit()).as(r.err()).isZero();
  }

  @BeforeAll
  static void models() throws Exception {
    primary = dir.resolve("primary");
    secondary = dir.resolve("secondary");
    drafter = dir.resolve("drafter");
    router = dir.resolve("router");
    otherPrimary = dir.resolve("other");
    ok(run("init", "--config", config("p", 32, 3, 300).toString(), "--out", primary.toString(), "--seed", "1"));
    ok(run("init", "--config", config("s", 16, 2, 300).toString(), "--out", secondary.toString(), "--secondary-of",
        primary.toString()));
    ok(run("init", "--config", config("d", 16, 2, 300).toString(), "--out", drafter.toString()));
    ok(run("init-router", "--drafter", secondary.toString(), "--out", router.toString(), "--threshold", "0.5"));
    ok(run("init", "--config", config("o", 24, 3, 300).toString(), "--out", otherPrimary.toString()));
  }

  @Test
  void speedWithTheTandemSecondaryMatchesThePrimaryAndReportsMetrics() throws Exception {
    CliTest.Run r = run("speed", "--primary", primary.toString(), "--drafter", secondary.toString(), "--prompt", "Hi",
        "--max-tokens", "20", "--gamma", "3", "--compare", "--json", "--ignore-eos");
    ok(r);
    JsonNode json = new ObjectMapper().readTree(r.out());
    assertThat(json.get("drafter_kind").asText()).isEqualTo("tandem");
    assertThat(json.get("results").get(0).get("tokens")).hasSize(20);
    JsonNode m = json.get("metrics");
    for (String field : new String[] {"rounds", "draft_tokens", "accepted_tokens", "accepted_per_position",
        "mean_accepted_length", "primary_runs", "drafter_runs", "draft_ms", "verify_ms", "refresh_ms",
        "decode_tokens_per_second"}) {
      assertThat(m.has(field)).as(field).isTrue();
    }
    // The batch's time split is real (it was 0.0 per result before); a result has no split of its own.
    assertThat(m.get("verify_ms").asDouble()).isPositive();
    assertThat(m.get("draft_ms").asDouble()).isPositive();
    assertThat(m.get("refresh_ms").asDouble()).isPositive();
    JsonNode one = json.get("results").get(0).get("metrics");
    assertThat(one.has("verify_ms")).as("per-result verify_ms").isFalse();
    assertThat(one.get("decode_ms").asDouble()).isPositive();
    assertThat(json.get("compare").get("identical").asBoolean()).isTrue();
  }

  @Test
  void speedWithARouterAndAPromptsFile() throws Exception {
    Path prompts = dir.resolve("prompts.jsonl");
    Files.writeString(prompts, "{\"prompt\": \"one\"}\n{\"prompt_tokens\": [1, 2, 3], \"max_tokens\": 5}\n\n"
        + "{\"prompt\": \"three\"}\n");
    CliTest.Run r = run("speed", "--primary", primary.toString(), "--drafter", secondary.toString(), "--prompts",
        prompts.toString(), "--max-tokens", "9", "--router", router.toString(), "--gamma-max", "5", "--compare",
        "--json", "--ignore-eos");
    ok(r);
    JsonNode json = new ObjectMapper().readTree(r.out());
    assertThat(json.get("results")).hasSize(3);
    assertThat(json.get("results").get(1).get("tokens")).hasSize(5);
    assertThat(json.get("compare").get("identical").asBoolean()).isTrue();
    assertThat(json.get("policy").asText()).contains("router");
  }

  @Test
  void speedWithAPlainDrafterAndSampling() throws Exception {
    CliTest.Run r = run("speed", "--primary", primary.toString(), "--drafter", drafter.toString(), "--prompt", "Hi",
        "--max-tokens", "12", "--temperature", "0.8", "--top-k", "40", "--seed", "3", "--json", "--ignore-eos");
    ok(r);
    assertThat(new ObjectMapper().readTree(r.out()).get("drafter_kind").asText()).isEqualTo("draft-model");
  }

  @Test
  void standaloneTandemGeneration() throws Exception {
    CliTest.Run r = run("speed", "--primary", primary.toString(), "--drafter", secondary.toString(), "--prompt", "Hi",
        "--max-tokens", "10", "--gamma", "2", "--standalone", "--json", "--ignore-eos");
    ok(r);
    JsonNode json = new ObjectMapper().readTree(r.out());
    assertThat(json.get("mode").asText()).isEqualTo("tandem-standalone");
    assertThat(json.get("metrics").get("acceptance_rate").asDouble()).isEqualTo(1.0);
  }

  @Test
  void evalReportsTableOneMetrics() throws Exception {
    Path text = dir.resolve("held-out.txt");
    Files.writeString(text, "It is a truth universally acknowledged, that a single man in possession of a good"
        + " fortune, must be in want of a wife. ".repeat(4));
    Path dump = dir.resolve("dump.jsonl");
    CliTest.Run r = run("eval", "--primary", primary.toString(), "--secondary", secondary.toString(), "--data",
        text.toString(), "--window", "48", "--json", "--dump", dump.toString());
    ok(r);
    JsonNode json = new ObjectMapper().readTree(r.out());
    assertThat(json.get("positions").asLong()).isPositive();
    assertThat(json.get("total_variation").asDouble()).isBetween(0.0, 1.0);
    assertThat(Files.readAllLines(dump)).hasSize(json.get("positions").asInt());
    ok(run("eval", "--primary", primary.toString(), "--drafter", drafter.toString(), "--data", text.toString(),
        "--window", "48", "--block-length", "3"));
  }

  @Test
  void badInputIsReportedClearly() throws Exception {
    CliTest.Run wrongPrimary = run("speed", "--primary", otherPrimary.toString(), "--drafter", secondary.toString(),
        "--prompt", "x");
    assertThat(wrongPrimary.exit()).isEqualTo(1);
    assertThat(wrongPrimary.err()).contains("trained against a primary of hidden_size 32");

    Path smallVocab = dir.resolve("small-vocab");
    ok(run("init", "--config", config("v", 16, 2, 280).toString(), "--out", smallVocab.toString()));
    CliTest.Run vocab = run("speed", "--primary", primary.toString(), "--drafter", smallVocab.toString(), "--prompt",
        "x");
    assertThat(vocab.exit()).isEqualTo(1);
    assertThat(vocab.err()).contains("vocabulary of 280 tokens").contains("300");

    CliTest.Run gamma = run("speed", "--primary", primary.toString(), "--drafter", secondary.toString(), "--prompt",
        "x", "--gamma", "0");
    assertThat(gamma.exit()).isEqualTo(1);
    assertThat(gamma.err()).contains("--gamma must be in [1, 64]");

    CliTest.Run both = run("speed", "--primary", primary.toString(), "--drafter", secondary.toString(), "--prompt",
        "x", "--gamma", "3", "--router", router.toString());
    assertThat(both.err()).contains("either --gamma or --router");

    CliTest.Run survivalWithoutThreshold = run("speed", "--primary", primary.toString(), "--drafter",
        secondary.toString(), "--prompt", "x", "--router", router.toString(), "--router-rule", "survival");
    assertThat(survivalWithoutThreshold.exit()).isEqualTo(1);
    assertThat(survivalWithoutThreshold.err()).contains("--router-rule survival needs --router-threshold");
    CliTest.Run badRule = run("speed", "--primary", primary.toString(), "--drafter", secondary.toString(), "--prompt",
        "x", "--router", router.toString(), "--router-rule", "sometimes");
    assertThat(badRule.exit()).isNotZero();
    assertThat(badRule.err()).contains("--router-rule is token or survival");
    CliTest.Run badThreshold = run("speed", "--primary", primary.toString(), "--drafter", secondary.toString(),
        "--prompt", "x", "--router", router.toString(), "--router-threshold", "1.5");
    assertThat(badThreshold.err()).contains("--router-threshold must be in (0, 1]");
    CliTest.Run survival = run("speed", "--primary", primary.toString(), "--drafter", secondary.toString(),
        "--prompt", "x", "--max-tokens", "12", "--router", router.toString(), "--router-rule", "survival",
        "--router-threshold", "0.3", "--compare", "--ignore-eos");
    ok(survival);
    assertThat(survival.err() + survival.out()).contains("survival rule").contains("outputs identical");

    CliTest.Run tooLong = run("speed", "--primary", primary.toString(), "--drafter", secondary.toString(), "--prompt",
        "y".repeat(70));
    assertThat(tooLong.exit()).isEqualTo(1);
    assertThat(tooLong.err()).contains("70 tokens").contains("context of 64");

    CliTest.Run routerForOther = run("speed", "--primary", primary.toString(), "--drafter", drafter.toString(),
        "--prompt", "x", "--router", router.toString());
    assertThat(routerForOther.exit()).isZero();  // same width and vocabulary: allowed

    CliTest.Run standalonePlain = run("speed", "--primary", primary.toString(), "--drafter", drafter.toString(),
        "--prompt", "x", "--standalone");
    assertThat(standalonePlain.err()).contains("--standalone needs a tandem secondary");
  }
}
