package dev.tandem.engine;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tandem.backend.cpu.CpuBackend;
import dev.tandem.checkpoint.LoadedModel;
import dev.tandem.checkpoint.ModelLoader;
import dev.tandem.sampling.SamplingParams;
import dev.tandem.speculative.SpeedMetrics;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * The shipped demo models through SPEED with a fixed block length: the work of a fixed greedy run is
 * deterministic (the tokens, and so which drafts are accepted, and how often each model runs), so a
 * silent loss of acceptance (a drafter fed the wrong positions, a refresh one row short) changes these
 * counts even though the output, the primary's, stays the same. The counts were recorded from this
 * run when the engine was written; a deliberate change of the drafting code that moves them must say
 * why in its commit.
 */
class DemoModelsRunTest {
  private static final Path DEMO = Path.of("..", "models", "demo");

  private static SpeedMetrics run(String drafter) throws Exception {
    LoadedModel primary = ModelLoader.load(DEMO.resolve("primary"));
    List<GenerationRequest> requests = new ArrayList<>();
    for (String prompt : new String[] {"It is a truth universally acknowledged, that", "In the beginning God created"}) {
      requests.add(new GenerationRequest(primary.promptTokens(prompt), 48, SamplingParams.greedy(), -1, 0));
    }
    try (CpuBackend backend = CpuBackend.fast(2);
        Engine engine = EngineBuilder.primary(primary).drafter(DEMO.resolve(drafter)).gamma(4).fixedSpeculation()
            .slots(2).backend(backend).build()) {
      SpeedMetrics total = new SpeedMetrics();
      for (GenerationResult r : engine.generateAll(requests, TokenListener.NONE)) total.add(r.metrics());
      System.out.printf("%s: rounds %d, draft tokens %d, accepted %d, primary runs %d, drafter runs %d%n", drafter,
          total.rounds, total.draftTokens, total.acceptedTokens, total.primaryRuns, total.drafterRuns);
      return total;
    }
  }

  @Test
  void fixedRunsDoTheRecordedWork() throws Exception {
    Assumptions.assumeTrue(Files.isDirectory(DEMO.resolve("primary")), "models/demo not found from " + Path.of("").toAbsolutePath());
    SpeedMetrics tandem = run("tandem-distil");
    SpeedMetrics distilled = run("drafter-distil");
    assertThat(new long[] {tandem.rounds, tandem.draftTokens, tandem.acceptedTokens, tandem.primaryRuns,
        tandem.drafterRuns}).as("tandem-distil: rounds, draft tokens, accepted, primary runs, drafter runs")
        .containsExactly(34, 133, 60, 36, 133);
    assertThat(new long[] {distilled.rounds, distilled.draftTokens, distilled.acceptedTokens, distilled.primaryRuns,
        distilled.drafterRuns}).as("drafter-distil: rounds, draft tokens, accepted, primary runs, drafter runs")
        .containsExactly(36, 141, 57, 39, 141);
  }
}
