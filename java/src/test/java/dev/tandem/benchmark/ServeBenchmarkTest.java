package dev.tandem.benchmark;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tandem.engine.GenerationRequest;
import dev.tandem.sampling.SamplingParams;
import dev.tandem.speculative.SpeedMetrics;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** The serving benchmark's figures on a synthetic target whose token times are known. */
class ServeBenchmarkTest {
  private static final long MS = 1_000_000;

  @Test
  void percentilesInterpolateBetweenRanksAsNumpyDoes() {
    assertThat(ServeBenchmark.percentile(new double[] {1, 2, 3, 4}, 50)).isEqualTo(2.5);
    assertThat(ServeBenchmark.percentile(new double[] {1, 2, 3, 4}, 99)).isCloseTo(3.97, within(1e-12));
    assertThat(ServeBenchmark.percentile(new double[] {7}, 99)).isEqualTo(7);
  }

  /**
   * Each request answers at once with a first token 5 ms after it was sent, then chunks of two tokens
   * every 3 ms (as verification rounds deliver accepted drafts together): TTFT 5 ms, ITL 3 ms per
   * chunk, TPOT (last - first) / (n - 1).
   */
  @Test
  void ttftTpotAndItlFromTokenTimes() throws Exception {
    List<GenerationRequest> requests = new ArrayList<>();
    for (int i = 0; i < 6; i++) requests.add(new GenerationRequest(new int[] {1, 2, 3}, 9, SamplingParams.greedy(), -1, 0));
    AtomicInteger maxInFlight = new AtomicInteger(), inFlight = new AtomicInteger();
    ServeBenchmark.Target target = (request, onTokens) -> {
      long sent = System.nanoTime();
      maxInFlight.accumulateAndGet(inFlight.incrementAndGet(), Math::max);
      onTokens.arrived(1, sent + 5 * MS);
      for (int c = 1; c <= 4; c++) onTokens.arrived(2, sent + (5 + 3 * c) * MS);  // 9 tokens in all
      SpeedMetrics m = new SpeedMetrics();
      m.recordRound(3, 1);
      inFlight.decrementAndGet();
      return CompletableFuture.completedFuture(new ServeBenchmark.Outcome(3, 9, m));
    };
    ObjectNode r = ServeBenchmark.run(target, requests, ServeBenchmark.Mode.CLOSED_LOOP, 2, false, 2, 1);
    assertThat(r.get("completed").asInt()).isEqualTo(6);
    assertThat(r.get("total_output_tokens").asInt()).isEqualTo(54);
    // From the client's send to the target's own clock reading: at least 5 ms, more under load.
    assertThat(r.get("mean_ttft_ms").asDouble()).isBetween(5.0, 30.0);
    assertThat(r.get("mean_itl_ms").asDouble()).isCloseTo(3, within(0.01));
    assertThat(r.get("p99_itl_ms").asDouble()).isCloseTo(3, within(0.01));
    // TPOT: the last chunk at 17 ms, the first token at 5 ms, 8 tokens after the first.
    assertThat(r.get("mean_tpot_ms").asDouble()).isCloseTo(12.0 / 8, within(1e-6));
    assertThat(r.get("mean_accepted_length").asDouble()).isEqualTo(2.0);
    assertThat(maxInFlight.get()).isLessThanOrEqualTo(2);
  }
}
