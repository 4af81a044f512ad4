package dev.tandem.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import dev.tandem.model.ModelWeights;
import dev.tandem.secondary.RouterWeights;
import dev.tandem.secondary.TandemConfig;
import dev.tandem.secondary.TandemWeights;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Every `tandem train` recipe end to end on a small text with tiny models (seconds). */
class TrainRecipesTest {
  static int run(String... args) {
    StringWriter err = new StringWriter();
    int code = Main.commandLine().setErr(new PrintWriter(err)).execute(args);
    if (code != 0) throw new AssertionError("tandem " + String.join(" ", args) + " exited " + code + ": " + err);
    return code;
  }

  /** The command, then the shared options. */
  static String[] with(List<String> options, String... command) {
    List<String> all = new ArrayList<>(List.of(command));
    all.addAll(options);
    return all.toArray(new String[0]);
  }

  @Test
  void allRecipesRunEndToEnd(@TempDir Path dir) throws IOException {
    StringBuilder text = new StringBuilder();
    java.util.SplittableRandom r = new java.util.SplittableRandom(1);
    String[] words = {"the", "king", "said", "unto", "them", "and", "it", "was", "so", "people", "of", "nation"};
    for (int i = 0; i < 6000; i++) text.append(words[r.nextInt(words.length)]).append(i % 13 == 0 ? ".\n" : " ");
    Path corpus = dir.resolve("corpus.txt");
    Files.writeString(corpus, text);
    String c = corpus.toString();
    Path m = dir.resolve("models"), runs = dir.resolve("runs");
    List<String> small = List.of("--seq-len", "16", "--batch", "2", "--val-every", "2", "--val-sequences", "2",
        "--checkpoint-every", "2", "--segment-bytes", "256", "--val-fraction", "0.1", "--warmup", "1");

    run("train", "tokenizer", "--vocab", "300", "--out", m.resolve("tok").toString(), "--segment-bytes", "256",
        "--val-fraction", "0.1", c);
    String tok = m.resolve("tok/tokenizer.json").toString();
    run(with(small, "train", "primary", "--tokenizer", tok, "--hidden", "32", "--layers", "2", "--heads", "2",
        "--intermediate", "48", "--steps", "3", "--run", runs.resolve("p").toString(), "--out", m.resolve("p").toString(), c));
    ModelWeights primary = ModelWeights.load(m.resolve("p"));
    assertThat(primary.config().torchDtype()).isEqualTo("bfloat16");
    assertThat(m.resolve("p/tokenizer.json")).exists();
    assertThat(m.resolve("p/training.json")).exists();
    assertThat(runs.resolve("p/loss.png")).exists();
    assertThat(runs.resolve("p/ce/log.csv")).exists();

    String p = m.resolve("p").toString();
    List<String> tiny = List.of("--hidden", "16", "--layers", "2", "--heads", "2", "--intermediate", "24");
    run(with(small, with(tiny, "train", "drafter", "--tokenizer", tok, "--steps", "2", "--run",
        runs.resolve("d").toString(), "--out", m.resolve("d").toString(), c)));
    run(with(small, "train", "drafter", "--tokenizer", tok, "--init", m.resolve("d").toString(), "--steps", "1", "--run",
        runs.resolve("d2").toString(), "--out", m.resolve("d2").toString(), c));
    assertThat(ModelWeights.load(m.resolve("d2")).config().hiddenSize()).isEqualTo(16);
    assertThat(runs.resolve("d2/loss.png")).exists();
    run("train", "bench", "--hidden", "16", "--layers", "1", "--heads", "2", "--intermediate", "24", "--vocab", "64",
        "--batch", "2", "--seq-len", "16", "--steps", "1");
    run(with(small, "train", "drafter-distil", "--primary", p, "--init", m.resolve("d").toString(), "--steps", "2",
        "--run", runs.resolve("dd").toString(), "--out", m.resolve("dd").toString(), c));
    run(with(small, with(tiny, "train", "tandem-ce", "--primary", p, "--steps", "2", "--run",
        runs.resolve("tc").toString(), "--out", m.resolve("tc").toString(), c)));
    TandemWeights tc = TandemWeights.load(m.resolve("tc"));
    assertThat(tc.config().trainingBlockLength()).isEqualTo(2);
    assertThat(tc.config().layerMap()).containsExactly(TandemConfig.defaultLayerMap(2, 2));
    run(with(small, "train", "tandem-ce", "--primary", p, "--init-decoder", m.resolve("d").toString(), "--steps", "1",
        "--run", runs.resolve("tc2").toString(), "--out", m.resolve("tc2").toString(), c));
    assertThat(TandemWeights.load(m.resolve("tc2")).projections().length).isEqualTo(2);
    run(with(small, "train", "tandem-distil", "--primary", p, "--init", m.resolve("tc").toString(), "--steps", "2",
        "--run", runs.resolve("td").toString(), "--out", m.resolve("td").toString(), c));
    run(with(small, with(tiny, "train", "tandem-distil", "--primary", p, "--stage1-steps", "1", "--steps", "1",
        "--block-length", "2,3", "--run", runs.resolve("td2").toString(), "--out", m.resolve("td2").toString(), c)));
    assertThat(runs.resolve("td2/ce/done.json")).exists();
    assertThat(runs.resolve("td2/distil/done.json")).exists();
    run("train", "router", "--primary", p, "--secondary", m.resolve("td").toString(), "--seq-len", "16",
        "--prompt-tokens", "8", "--segment-bytes", "256", "--val-fraction", "0.1", "--positions", "200",
        "--val-positions", "50", "--steps", "20", "--batch", "16", "--forward-batch", "2", "--run",
        runs.resolve("router").toString(), "--out", m.resolve("router").toString(), c);
    RouterWeights router = RouterWeights.load(m.resolve("router"));
    assertThat(router.config().featureSize()).isEqualTo(1 + 4 + 4 * 16);
    // The default stop is the survival rule with the threshold chosen by replaying training rounds, recorded
    // with the rule and the replay's figures.
    JsonNode routerTraining = new ObjectMapper().readTree(m.resolve("router/training.json").toFile());
    assertThat(router.config().threshold()).isEqualTo(routerTraining.get("threshold").asDouble())
        .isStrictlyBetween(0.0, 1.0);
    assertThat(router.config().stopRule()).isEqualTo("survival").isEqualTo(routerTraining.get("stop_rule").asText());
    assertThat(routerTraining.get("threshold_rule").asText()).contains("tokens per cost");
    assertThat(routerTraining.get("replayed_throughput").asDouble())
        .isGreaterThanOrEqualTo(routerTraining.get("replayed_best_fixed_throughput").asDouble() * 0.5);
    assertThat(routerTraining.get("replayed_rounds").asInt()).isPositive();
    assertThat(routerTraining.get("command").asText()).startsWith("./tandem train router --primary");
    assertThat(routerTraining.get("text").asText()).isEqualTo("the primary's greedy continuations of 8-token prompts");
    run("train", "router", "--primary", p, "--secondary", m.resolve("td").toString(), "--seq-len", "16", "--text",
        "corpus", "--segment-bytes", "256", "--val-fraction", "0.1", "--positions", "200", "--val-positions", "50",
        "--steps", "20", "--batch", "16", "--forward-batch", "2", "--run", runs.resolve("router-corpus").toString(),
        "--out", m.resolve("router-corpus").toString(), c);
    assertThat(new ObjectMapper().readTree(m.resolve("router-corpus/training.json").toFile()).get("text").asText())
        .isEqualTo("corpus");
    run("train", "eval", "--primary", p, "--secondary", m.resolve("dd").toString(), "--secondary",
        m.resolve("td").toString(), "--block-length", "2,3", "--seq-len", "16", "--segment-bytes", "256",
        "--val-fraction", "0.1", "--batch",
        "2", "--sequences", "4", "--run", runs.resolve("eval").toString(), c);
    // Running a finished recipe again with --resume trains nothing and writes the same model.
    run(with(small, "train", "primary", "--tokenizer", tok, "--hidden", "32", "--layers", "2", "--heads", "2",
        "--intermediate", "48", "--steps", "3", "--resume", "--run", runs.resolve("p").toString(), "--out",
        m.resolve("p2").toString(), c));
    assertThat(ModelWeights.load(m.resolve("p2")).get("lm_head.weight")).isEqualTo(primary.get("lm_head.weight"));
  }

  @Test
  void routerThresholdIsAFractionOrTheTrainingMean() {
    var data = new dev.tandem.train.RouterTrainer.Dataset(new float[3], new float[] {0.1f, 0.2f, 0.6f}, 3, 1);
    assertThat(TrainRouterCommand.stopThreshold("mean", data)).isCloseTo(0.3, org.assertj.core.data.Offset.offset(1e-6));
    assertThat(TrainRouterCommand.stopThreshold("0.25", data)).isEqualTo(0.25);
    for (String bad : new String[] {"0", "1.5", "-0.1", "half", "NaN"}) {
      assertThatThrownBy(() -> TrainRouterCommand.stopThreshold(bad, data)).as(bad)
          .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("--threshold");
    }
  }
}
