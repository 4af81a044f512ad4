package dev.tandem.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.tandem.backend.cpu.CpuBackend;
import dev.tandem.model.ModelWeights;
import dev.tandem.sampling.SamplingParams;
import dev.tandem.speculative.BlockLengthPolicy;
import dev.tandem.speculative.RouterPolicy;
import dev.tandem.speculative.SpeedFixtures;
import dev.tandem.secondary.RouterConfig;
import dev.tandem.secondary.RouterWeights;
import dev.tandem.tokenizer.Tokenizer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.OptionalInt;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The engine under random schedules: arrivals at random steps, cancellations, preemptions forced by a
 * small KV capacity, random prefill chunk budgets. Every request that is not cancelled must get exactly
 * the tokens it gets running alone (greedy: the primary's own greedy tokens; sampled: the same
 * configuration with nothing beside it), whatever drafter, router and speculation policy.
 */
class EngineTest {
  private static final int VOCAB = 64;
  private static final CpuBackend backend = CpuBackend.fast(2);

  @AfterAll
  static void close() {
    backend.close();
  }

  /** Drafter configurations: 0 none, 1 plain draft model, 2 near-copy draft model, 3 tandem, 4 near-copy tandem, 5 router. */
  private static EngineBuilder configure(ModelWeights primary, int drafter, long seed) {
    EngineBuilder b = EngineBuilder.primary(primary, null).backend(backend).context(SpeedFixtures.CONTEXT);
    switch (drafter) {
      case 0 -> {}
      case 1 -> b.draftModel(ModelWeights.random(SpeedFixtures.drafterConfig(VOCAB), seed + 100, 0.35), "plain");
      case 2 -> b.draftModel(SpeedFixtures.perturbed(primary, seed + 300, 0.03), "near copy");
      case 3 -> b.tandem(SpeedFixtures.tandem(primary, seed + 200, 0.35), "tandem");
      case 4 -> b.tandem(SpeedFixtures.tandemCopy(primary, seed + 400, 0.03), "tandem copy");
      case 5 -> {
        ModelWeights copy = SpeedFixtures.perturbed(primary, seed + 300, 0.03);
        int dim = copy.config().hiddenSize();
        RouterWeights router = RouterWeights.random(new RouterConfig(4, dim, 16, 0.5, VOCAB), seed);
        b.draftModel(copy, "near copy").blockLengths(new RouterPolicy(router,
            copy.get(dev.tandem.model.TensorNames.EMBEDDING), VOCAB, dim, 5, RouterPolicy.Rule.TOKEN));
      }
      default -> throw new IllegalArgumentException();
    }
    if (drafter != 5) b.gamma(3);
    // A cost model under which speculation pays for small batches and not for large ones, so the
    // adaptive policy changes its choice with what runs beside a request.
    return b.passCosts(PassCosts.linear(1.0, 0.12, 0.15, 0.05, 64));
  }

  private static List<GenerationRequest> requests(long seed, int count, boolean sampled) {
    SplittableRandom random = new SplittableRandom(seed);
    List<GenerationRequest> out = new ArrayList<>();
    for (int r = 0; r < count; r++) {
      int[] prompt = random.ints(1 + random.nextInt(30), 0, VOCAB).toArray();
      SamplingParams params = sampled && random.nextBoolean()
          ? new SamplingParams(0.6f + random.nextFloat(), random.nextInt(3) == 0 ? 8 : 0, random.nextBoolean() ? 0.9f : 1f,
              random.nextLong())
          : SamplingParams.greedy();
      out.add(new GenerationRequest(prompt, random.nextInt(5) == 0 ? 1 : 2 + random.nextInt(48), params, -1, 0));
    }
    return out;
  }

  private static List<GenerationResult> alone(EngineBuilder b, List<GenerationRequest> requests) {
    try (Engine engine = SpeedFixtures.build(b.slots(1).kvCapacity(null).prefillBudget(16))) {
      List<GenerationResult> out = new ArrayList<>();
      for (GenerationRequest r : requests) out.add(engine.generateAll(List.of(r), TokenListener.NONE).getFirst());
      return out;
    }
  }

  @ParameterizedTest(name = "drafter {0}")
  @ValueSource(ints = {0, 1, 2, 3, 4, 5})
  void randomSchedulesGiveEveryRequestItsTokensAlone(int drafter) {
    int preemptions = 0, cancelled = 0, compared = 0;
    for (long seed = 0; seed < 6; seed++) {
      SplittableRandom random = new SplittableRandom(seed * 7919 + drafter);
      ModelWeights primary = ModelWeights.random(SpeedFixtures.primaryConfig(VOCAB), seed, 0.35);
      List<GenerationRequest> requests = requests(seed, 10, true);
      SpeculationPolicy.Mode mode = random.nextBoolean() ? SpeculationPolicy.Mode.ADAPTIVE : SpeculationPolicy.Mode.FIXED;
      List<GenerationResult> expected = alone(configure(primary, drafter, seed).speculation(mode), requests);
      List<int[]> greedy = SpeedFixtures.primaryAlone(primary, backend, requests);
      for (int r = 0; r < requests.size(); r++) {
        if (requests.get(r).sampling().isGreedy()) {
          assertThat(expected.get(r).tokens()).as("greedy alone equals the primary").containsExactly(greedy.get(r));
        }
      }
      int[] budgets = {1, 3, 7, 16, 40};
      try (Engine engine = SpeedFixtures.build(configure(primary, drafter, seed).slots(1 + random.nextInt(4))
          .kvCapacity(SpeedFixtures.CONTEXT + random.nextInt(10)).prefillBudget(budgets[random.nextInt(budgets.length)])
          .speculation(mode))) {
        List<RequestHandle> handles = new ArrayList<>();
        List<Integer> cancelledIds = new ArrayList<>();
        int next = 0;
        while (next < requests.size() || handles.stream().anyMatch(h -> !h.isDone())) {
          while (next < requests.size() && random.nextInt(3) == 0) handles.add(engine.submit(requests.get(next++), null));
          if (!handles.isEmpty() && random.nextInt(25) == 0) {
            RequestHandle victim = handles.get(random.nextInt(handles.size()));
            if (!victim.isDone()) {
              victim.cancel();
              cancelledIds.add((int) victim.id());
            }
          }
          engine.step();
        }
        for (RequestHandle h : handles) {
          GenerationResult got = h.result().join();
          GenerationResult want = expected.get((int) h.id());
          String what = "seed " + seed + ", drafter " + drafter + ", " + mode + ", request " + h.id();
          preemptions += got.timing().preemptions();
          if (cancelledIds.contains((int) h.id()) && got.finishReason() == FinishReason.CANCELLED) {
            cancelled++;
            assertThat(Arrays.copyOf(want.tokens(), got.tokens().length)).as(what + ": a cancelled request's tokens are a"
                + " prefix").containsExactly(got.tokens());
            continue;
          }
          compared++;
          assertThat(got.tokens()).as(what).containsExactly(want.tokens());
          assertThat(got.finishReason()).as(what).isEqualTo(want.finishReason());
        }
        assertThat(engine.runningRequests()).isZero();
        assertThat(engine.waitingRequests()).isZero();
      }
    }
    assertThat(preemptions).as("preemptions exercised").isPositive();
    assertThat(compared).isGreaterThan(40);
    System.out.printf("drafter %d: %d requests compared, %d cancelled, %d preemptions%n", drafter, compared, cancelled,
        preemptions);
  }

  @Test
  void theAdaptivePolicyDraftsWhenItPaysAndNotWhenItDoesNot() {
    ModelWeights primary = ModelWeights.random(SpeedFixtures.primaryConfig(VOCAB), 3, 0.35);
    List<GenerationRequest> four = requests(11, 4, false);
    // Passes cost the same whatever their rows (bound by reading weights): drafting always pays.
    try (Engine cheapRows = SpeedFixtures.build(EngineBuilder.primary(primary, null).backend(backend)
        .context(SpeedFixtures.CONTEXT).slots(4).gamma(3).draftModel(SpeedFixtures.perturbed(primary, 5, 0.03), "copy")
        .passCosts(PassCosts.linear(1.0, 0.0, 0.05, 0.0, 64)))) {
      var results = cheapRows.generateAll(four, TokenListener.NONE);
      assertThat(results.stream().mapToLong(r -> r.metrics().draftTokens).sum()).isPositive();
    }
    // Every row costs as much as a pass: drafting never pays, the engine decodes plainly.
    try (Engine dearRows = SpeedFixtures.build(EngineBuilder.primary(primary, null).backend(backend)
        .context(SpeedFixtures.CONTEXT).slots(4).gamma(3).draftModel(SpeedFixtures.perturbed(primary, 5, 0.03), "copy")
        .passCosts(PassCosts.linear(0.0, 1.0, 0.5, 0.0, 64)))) {
      var results = dearRows.generateAll(four, TokenListener.NONE);
      assertThat(results.stream().mapToLong(r -> r.metrics().draftTokens).sum()).isZero();
      assertThat(results.stream().mapToLong(r -> r.metrics().drafterRuns).sum()).isZero();
    }
  }

  /**
   * Rounds in which a request drafts nothing leave a tandem secondary behind for it (no refresh);
   * when it drafts again the secondary catches up with its own states. A secondary that is the primary
   * itself computes the same keys and values either way, so every draft must still be accepted: a gap
   * or a stale entry in its cache (a refresh written past a lag) would show as a rejection.
   */
  @Test
  void aSecondaryLeftBehindCatchesUp() {
    ModelWeights primary = ModelWeights.random(SpeedFixtures.primaryConfig(VOCAB), 9, 0.35);
    // Passes of up to six rows cost about one, of seven or more five: alone, the greedy request drafts;
    // beside the sampled one (five rows a round, as it always drafts gamma = 4) it drafts nothing.
    PassCosts costs = new PassCosts(new int[] {1, 2, 5, 6, 7, 12}, new double[] {1.0, 1.01, 1.02, 1.03, 5, 10},
        new int[] {1, 2}, new double[] {0.01, 0.01});
    GenerationRequest greedy = requests(3, 1, false).getFirst().withMaxTokens(40);
    GenerationRequest sampled = new GenerationRequest(requests(4, 1, false).getFirst().prompt(), 12,
        new SamplingParams(0.8f, 0, 1f, 5), -1, 0);
    try (Engine engine = SpeedFixtures.build(EngineBuilder.primary(primary, null).backend(backend)
        .context(SpeedFixtures.CONTEXT).slots(2).gamma(4).tandem(SpeedFixtures.tandemCopy(primary, 0, 0), "copy")
        .passCosts(costs))) {
      List<GenerationResult> results = engine.generateAll(List.of(greedy, sampled), TokenListener.NONE);
      assertThat(results.get(0).tokens()).containsExactly(SpeedFixtures.primaryAlone(primary, backend, List.of(greedy))
          .getFirst());
      GenerationResult longer = results.get(0);
      assertThat(longer.metrics().draftTokens).as("drafted after the sampled request ended").isPositive();
      assertThat(longer.metrics().rounds).as("but not beside it").isLessThan(longer.tokens().length / 4);
      assertThat(longer.metrics().acceptedTokens).isEqualTo(longer.metrics().draftTokens);
      assertThat(results.get(1).metrics().draftTokens).as("the sampled request drafted").isPositive();
    }
  }

  @Test
  void expectedAcceptedIsTheSumOfPowers() {
    assertThat(SpeculationPolicy.expectedAccepted(0.5, 3)).isEqualTo(0.5 + 0.25 + 0.125);
    assertThat(SpeculationPolicy.expectedAccepted(1.0, 4)).isEqualTo(4.0);
    assertThat(SpeculationPolicy.expectedAccepted(0.7, 0)).isEqualTo(0.0);
  }

  @Test
  void cancellationFreesTheSlotForTheNextRequest() {
    ModelWeights primary = ModelWeights.random(SpeedFixtures.primaryConfig(VOCAB), 4, 0.35);
    List<GenerationRequest> two = requests(5, 2, false);
    try (Engine engine = SpeedFixtures.build(EngineBuilder.primary(primary, null).backend(backend)
        .context(SpeedFixtures.CONTEXT).slots(1))) {
      RequestHandle first = engine.submit(two.get(0).withMaxTokens(60), null);
      RequestHandle second = engine.submit(two.get(1), null);
      engine.step();
      engine.step();
      assertThat(engine.runningRequests()).isEqualTo(1);
      assertThat(second.isDone()).isFalse();
      first.cancel();
      engine.step();
      GenerationResult cancelled = first.result().join();
      assertThat(cancelled.finishReason()).isEqualTo(FinishReason.CANCELLED);
      assertThat(cancelled.tokens().length).isLessThan(60);
      while (!second.isDone()) engine.step();
      assertThat(second.result().join().tokens())
          .containsExactly(SpeedFixtures.primaryAlone(primary, backend, List.of(two.get(1))).getFirst());
    }
  }

  @Test
  void maxTokensZeroAndPromptsAtTheContextLimit() {
    ModelWeights primary = ModelWeights.random(SpeedFixtures.primaryConfig(VOCAB), 6, 0.35);
    try (Engine engine = SpeedFixtures.build(EngineBuilder.primary(primary, null).backend(backend).context(20))) {
      GenerationResult none = engine.generateAll(List.of(new GenerationRequest(new int[] {1, 2}, 0,
          SamplingParams.greedy(), -1, 0)), TokenListener.NONE).getFirst();
      assertThat(none.tokens()).isEmpty();
      assertThat(none.finishReason()).isEqualTo(FinishReason.LENGTH);
      // 19 prompt tokens in a context of 20: the first token comes from the prompt's pass, the second
      // from feeding it at position 19; then no position is left.
      GenerationResult full = engine.generateAll(List.of(new GenerationRequest(new int[19], 10,
          SamplingParams.greedy(), -1, 0)), TokenListener.NONE).getFirst();
      assertThat(full.tokens()).hasSize(2);
      assertThat(full.finishReason()).isEqualTo(FinishReason.CONTEXT);
      assertThatThrownBy(() -> engine.submit(new GenerationRequest(new int[20], 1, SamplingParams.greedy(), -1, 0), null))
          .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("context length is 20");
      assertThatThrownBy(() -> engine.submit(new GenerationRequest(new int[] {1, 500}, 1, SamplingParams.greedy(), -1, 0),
          null)).hasMessageContaining("token id 500 outside the vocabulary");
    }
  }

  @Test
  void aFullQueueRefusesNewRequests() {
    ModelWeights primary = ModelWeights.random(SpeedFixtures.primaryConfig(VOCAB), 6, 0.35);
    try (Engine engine = SpeedFixtures.build(EngineBuilder.primary(primary, null).backend(backend)
        .context(SpeedFixtures.CONTEXT).maxWaiting(2))) {
      GenerationRequest r = requests(1, 1, false).getFirst();
      engine.submit(r, null);
      engine.submit(r, null);
      assertThatThrownBy(() -> engine.submit(r, null)).isInstanceOf(QueueFullException.class);
      while (engine.hasWork()) engine.step();
      engine.submit(r, null);  // room again
    }
  }

  /** Ids 0..11 are letters, 12 a space, 13 and 14 the two bytes of 'é', the rest 'x'. */
  static final class LetterTokenizer implements Tokenizer {
    @Override public int[] encode(String text) { throw new UnsupportedOperationException(); }
    @Override public int[] encode(byte[] bytes) { throw new UnsupportedOperationException(); }
    @Override public byte[] decodeBytes(int[] ids) {
      java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
      for (int id : ids) {
        int t = id % 16;
        if (t < 12) out.write('a' + t);
        else if (t == 12) out.write(' ');
        else if (t == 13) out.write(0xC3);
        else if (t == 14) out.write(0xA9);
        else out.write('x');
      }
      return out.toByteArray();
    }
    @Override public int vocabSize() { return VOCAB; }
    @Override public String token(int id) { return String.valueOf(id); }
    @Override public OptionalInt tokenId(String token) { return OptionalInt.empty(); }
    @Override public OptionalInt bosId() { return OptionalInt.empty(); }
    @Override public OptionalInt eosId() { return OptionalInt.empty(); }
    @Override public List<String> specialTokens() { return List.of(); }
  }

  @Test
  void stopStringsThatSpanTokensCutTheTextAndStopTheRequest() {
    Tokenizer tokenizer = new LetterTokenizer();
    int tried = 0;
    for (long seed = 0; seed < 8; seed++) {
      ModelWeights primary = ModelWeights.random(SpeedFixtures.primaryConfig(VOCAB), 20 + seed, 0.35);
      GenerationRequest plain = requests(seed, 1, false).getFirst().withMaxTokens(30);
      int[] tokens = SpeedFixtures.primaryAlone(primary, backend, List.of(plain)).getFirst();
      String text = new String(tokenizer.decodeBytes(tokens), StandardCharsets.UTF_8);
      if (text.length() < 8) continue;
      // 3 chars, most often 2-3 tokens; not across a lone lead byte (U+FFFD), which a stream can only tell
      // from the token after it.
      int at = text.length() / 2 - 1;
      while (at + 3 < text.length() && text.substring(at, at + 3).contains("\uFFFD")) at++;
      String stop = text.substring(at, at + 3);
      if (stop.contains("\uFFFD")) continue;
      // Independent expectation: the shortest prefix of tokens whose text contains the stop string.
      int end = 1;
      while (!new String(tokenizer.decodeBytes(Arrays.copyOf(tokens, end)), StandardCharsets.UTF_8).contains(stop)) end++;
      String expectedText = text.substring(0, text.indexOf(stop));
      GenerationRequest stopping = new GenerationRequest(plain.prompt(), 30, SamplingParams.greedy(), new int[0],
          List.of("zzzz", stop), true, 0);
      for (int drafter : new int[] {0, 2}) {
        EngineBuilder b = EngineBuilder.primary(primary, tokenizer).backend(backend).context(SpeedFixtures.CONTEXT);
        if (drafter == 2) b.draftModel(SpeedFixtures.perturbed(primary, 3, 0.03), "copy").gamma(4).fixedSpeculation();
        try (Engine engine = SpeedFixtures.build(b)) {
          StringBuilder streamed = new StringBuilder();
          RequestHandle h = engine.submit(stopping, (token, drafted, delta) -> streamed.append(delta));
          while (!h.isDone()) engine.step();
          GenerationResult result = h.result().join();
          assertThat(result.finishReason()).isEqualTo(FinishReason.STOP);
          assertThat(result.tokens()).containsExactly(Arrays.copyOf(tokens, end));
          assertThat(result.text()).isEqualTo(expectedText);
          assertThat(streamed.toString()).as("streamed text never includes the stop string").isEqualTo(expectedText);
        }
      }
      tried++;
    }
    assertThat(tried).isGreaterThan(4);
  }

  @Test
  void streamedTextHoldsBackSplitCharactersAndEqualsTheDecodedText() {
    OutputText out = new OutputText(new LetterTokenizer(), List.of("b" + "\u00e9"));
    StringBuilder s = new StringBuilder();
    for (int id : new int[] {0, 13, 14, 1, 13}) s.append(out.accept(id));
    assertThat(s.toString()).isEqualTo("a\u00e9");  // 'b' held back (may start "bé"), the last byte incomplete
    s.append(out.accept(14));                          // "bé" completes the stop string
    assertThat(out.stopped()).isTrue();
    s.append(out.finish());
    assertThat(s.toString()).isEqualTo("a\u00e9");
    assertThat(out.text()).isEqualTo("a\u00e9");
  }
}
