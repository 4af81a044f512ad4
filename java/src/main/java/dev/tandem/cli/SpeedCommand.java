package dev.tandem.cli;

import dev.tandem.benchmark.SpeedComparison;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tandem.backend.Backend;
import dev.tandem.engine.GenerationRequest;
import dev.tandem.engine.GenerationResult;
import dev.tandem.engine.Engine;
import dev.tandem.engine.EngineBuilder;
import dev.tandem.engine.RequestHandle;
import dev.tandem.engine.SpeculationPolicy;
import dev.tandem.engine.TokenListener;
import dev.tandem.sampling.SamplingParams;
import dev.tandem.speculative.RouterPolicy;
import dev.tandem.speculative.SpeedMetrics;
import dev.tandem.tokenizer.Tokenizer;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code tandem speed}: speculative decoding (SPEED) with a tandem secondary or a plain draft model. */
@Command(name = "speed", mixinStandardHelpOptions = true,
    description = "Generate with SPEED: the drafter proposes, the primary verifies (output = the primary's).")
public final class SpeedCommand implements Callable<Integer> {
  @Option(names = "--primary", required = true, description = "The primary model directory.")
  Path primaryDir;

  @Option(names = "--drafter", required = true, description = "A tandem secondary or a plain draft model directory.")
  Path drafterDir;

  @Option(names = "--gamma", description = "Drafts per round (default 4).")
  Integer gamma;

  @Option(names = "--router", description = "Adaptive block length: a router directory (with --gamma-max).")
  Path router;

  @Option(names = "--gamma-max", description = "Most drafts per round with --router (default 8).")
  Integer gammaMax;

  @Option(names = "--router-threshold", description = "token rule: stop drafting when the predicted disagreement"
      + " exceeds this; survival rule: stop when the estimated chance that all of the round's drafts are accepted"
      + " falls below this (default: the router's stored threshold, for its stored rule).")
  Float routerThreshold;

  @Option(names = "--router-rule", converter = RouterRuleConverter.class,
      description = "token (the paper's: one token's predicted disagreement) or survival (the product of (1 - r) over"
          + " the round's drafts); default: the rule stored with the router.")
  RouterPolicy.Rule routerRule;

  static final class RouterRuleConverter implements picocli.CommandLine.ITypeConverter<RouterPolicy.Rule> {
    @Override
    public RouterPolicy.Rule convert(String value) {
      return switch (value.toLowerCase(java.util.Locale.ROOT)) {
        case "token" -> RouterPolicy.Rule.TOKEN;
        case "survival" -> RouterPolicy.Rule.SURVIVAL;
        default -> throw new picocli.CommandLine.TypeConversionException("--router-rule is token or survival, got '"
            + value + "'");
      };
    }
  }

  static final class Prompts {
    @Option(names = "--prompt", description = "Prompt text.") String text;
    @Option(names = "--prompt-tokens", split = ",", description = "Prompt token ids.") int[] ids;
    @Option(names = "--prompts", description = "JSONL file: one {\"prompt\": TEXT} or {\"prompt_tokens\": [..]}"
        + " per line, optional \"max_tokens\"; run as one batch.") Path file;
  }

  @ArgGroup(exclusive = true, multiplicity = "1")
  Prompts prompts;

  @Option(names = "--max-tokens", defaultValue = "128", description = "New tokens per prompt (default 128).")
  int maxTokens;

  @Option(names = "--context", description = "Context length (default: the models' maximum, at most 4096).")
  Integer context;

  @Option(names = "--json", description = "Print one JSON object with tokens, text and metrics.")
  boolean json;

  @Option(names = "--compare", description = "Also run the primary alone in the same process: speedup and, for"
      + " greedy decoding, whether the outputs are identical.")
  boolean compare;

  @Option(names = "--standalone", description = "Tandem generation instead of SPEED: keep every draft, the primary"
      + " adds one token after each block (the output is the tandem model's, not the primary's).")
  boolean standalone;

  @Option(names = "--speculation", defaultValue = "FIXED", converter = SpeculationModeConverter.class,
      description = "fixed (every round drafts --gamma, or what the router allows; default) or adaptive (the engine's"
          + " cost model chooses each round's drafts, zero included, so speculation never costs throughput).")
  SpeculationPolicy.Mode speculation;

  @Option(names = "--ignore-eos", description = "Keep generating after the end-of-sequence token.")
  boolean ignoreEos;

  @Mixin SamplingOptions sampling;
  @Mixin DeviceOptions device;

  private final ObjectMapper mapper = new ObjectMapper();
  private double engineMs, bookkeepingMs;

  @Override
  public Integer call() throws Exception {
    if (maxTokens < 1) throw new IllegalArgumentException("--max-tokens must be >= 1, got " + maxTokens);
    SamplingParams params = sampling.params();
    EngineBuilder builder = EngineBuilder.load(primaryDir).drafter(drafterDir).gamma(gamma)
        .context(context).standalone(standalone).speculation(speculation);
    if (router != null || gammaMax != null) builder.router(router, gammaMax, routerThreshold, routerRule);
    else if (routerThreshold != null || routerRule != null) throw new IllegalArgumentException("--router-threshold and --router-rule need --router");
    if (standalone && !builder.isTandem()) {
      throw new IllegalArgumentException("--standalone needs a tandem secondary as --drafter");
    }
    Tokenizer tokenizer = builder.tokenizer();
    int stop = ignoreEos || tokenizer == null ? -1 : tokenizer.eosId().orElse(-1);
    List<GenerationRequest> requests = readRequests(tokenizer, params, stop);
    int contextLength = builder.contextLength();
    for (int r = 0; r < requests.size(); r++) {
      if (requests.get(r).prompt().length >= contextLength) {
        throw new IllegalArgumentException("prompt " + r + " has " + requests.get(r).prompt().length
            + " tokens, which leaves no room in the context of " + contextLength + " tokens (see --context)");
      }
    }
    PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
    try (Backend backend = device.backend();
        Engine speed = builder.backend(backend).slots(requests.size()).prefillBudget(256).build()) {
      SpeedComparison.Run primaryAlone = compare
          ? SpeedComparison.primaryAlone(backend, builder.primaryWeights(), contextLength, requests) : null;
      if (compare) speed.generateAll(List.of(new GenerationRequest(requests.getFirst().prompt(), Math.min(8, maxTokens),
          params, -1, 0)), TokenListener.NONE);  // warm-up, as the primary had
      boolean streaming = !json && requests.size() == 1;
      SpeedMetrics before = new SpeedMetrics();
      before.add(speed.totals());
      List<RequestHandle> handles = new ArrayList<>();
      for (GenerationRequest request : requests) {
        handles.add(speed.submit(request, (token, drafted, text) -> {
          if (!streaming) return;
          if (tokenizer == null) {
            if (token >= 0) out.print(token + " ");
          } else {
            out.print(text);
          }
        }));
      }
      while (handles.stream().anyMatch(h -> !h.isDone())) speed.step();
      List<GenerationResult> results = handles.stream().map(h -> h.result().join()).toList();
      if (streaming) out.println();
      SpeedComparison.Run run = SpeedComparison.summarise(results, speed.totals(), before);
      engineMs = speed.stepNanos() / 1e6;
      bookkeepingMs = speed.bookkeepingNanos() / 1e6;
      report(out, builder, speed.description(), requests, results, run.metrics(), primaryAlone, backend.name());
    }
    return 0;
  }

  private List<GenerationRequest> readRequests(Tokenizer tokenizer, SamplingParams params, int stop) throws IOException {
    List<GenerationRequest> requests = new ArrayList<>();
    if (prompts.file == null) {
      PromptOptions single = new PromptOptions();
      single.text = prompts.text;
      single.ids = prompts.ids;
      requests.add(new GenerationRequest(single.tokens(tokenizer, "model " + primaryDir), maxTokens, params, stop, 0));
      return requests;
    }
    if (!Files.isRegularFile(prompts.file)) throw new IOException("prompts file not found: " + prompts.file);
    int lineNumber = 0;
    for (String line : PromptOptions.readLines(prompts.file)) {
      lineNumber++;
      if (line.isBlank()) continue;
      JsonNode node;
      try {
        node = mapper.readTree(line);
      } catch (IOException e) {
        throw new IOException(prompts.file + " line " + lineNumber + ": not valid JSON", e);
      }
      PromptOptions.Line parsed = PromptOptions.parse(node, prompts.file + " line " + lineNumber, maxTokens);
      PromptOptions p = parsed.prompt();
      int max = parsed.maxTokens();
      requests.add(new GenerationRequest(p.tokens(tokenizer, "model " + primaryDir), max, params, stop,
          requests.size()));
    }
    if (requests.isEmpty()) throw new IOException(prompts.file + " holds no prompts");
    return requests;
  }

  private void report(PrintStream out, EngineBuilder setup, String policy, List<GenerationRequest> requests,
      List<GenerationResult> results, SpeedMetrics totals, SpeedComparison.Run primaryAlone, String backend)
      throws IOException {
    Tokenizer tokenizer = setup.tokenizer();
    boolean greedy = requests.getFirst().sampling().isGreedy();
    boolean identical = true;
    if (primaryAlone != null) {
      for (int r = 0; r < results.size(); r++) {
        identical &= Arrays.equals(results.get(r).tokens(), primaryAlone.tokens().get(r));
      }
    }
    // Both rates count the tokens after each sequence's first over the decode phase (prefill excluded).
    double speedRate = totals.decodeTokensPerSecond();
    double primaryRate = primaryAlone == null ? 0 : primaryAlone.tokensPerSecond();
    if (json) {
      ObjectNode root = mapper.createObjectNode();
      root.put("primary", primaryDir.toString());
      root.put("drafter", drafterDir.toString());
      root.put("drafter_kind", setup.isTandem() ? "tandem" : "draft-model");
      root.put("mode", standalone ? "tandem-standalone" : "speed");
      root.put("policy", policy);
      root.put("backend", backend);
      root.put("sampling", requests.getFirst().sampling().toString());
      ArrayNode list = root.putArray("results");
      for (int r = 0; r < results.size(); r++) {
        ObjectNode n = list.addObject();
        n.putPOJO("prompt_tokens", Arrays.stream(requests.get(r).prompt()).boxed().toList());
        n.putPOJO("tokens", Arrays.stream(results.get(r).tokens()).boxed().toList());
        if (tokenizer != null) n.put("text", decode(tokenizer, results.get(r).tokens()));
        n.put("finish_reason", results.get(r).finishReason().name().toLowerCase());
        ObjectNode m = results.get(r).metrics().toJson();
        // The engine times its passes for the whole batch, not per request: those times are in the
        // totals below; a request has its own prefill and decode times and counts.
        m.remove(List.of("draft_ms", "verify_ms", "refresh_ms"));
        n.set("metrics", m);
      }
      root.set("metrics", totals.toJson());
      root.put("engine_step_ms", engineMs);        // all of Engine.step, this process (warm-up included)
      root.put("engine_bookkeeping_ms", bookkeepingMs);  // of which not in model passes
      if (primaryAlone != null) {
        ObjectNode c = root.putObject("compare");
        c.put("primary_decode_tokens_per_second", primaryRate);
        c.put("speed_decode_tokens_per_second", speedRate);
        c.put("speedup", primaryRate == 0 ? 0 : speedRate / primaryRate);
        if (greedy && !standalone) c.put("identical", identical);
      }
      out.println(mapper.writerWithDefaultPrettyPrinter().writeValueAsString(root));
      return;
    }
    if (results.size() > 1) {
      for (int r = 0; r < results.size(); r++) {
        out.printf("[%d] %s%n", r, tokenizer == null ? Arrays.toString(results.get(r).tokens())
            : decode(tokenizer, results.get(r).tokens()));
      }
    }
    PrintStream err = System.err;
    err.printf("%s: %s, %s%n", standalone ? "Tandem generation" : "SPEED", policy, backend);
    err.printf("rounds %d, draft tokens %d, accepted %d (%.1f%%), mean accepted length %.2f, accepted per position %s%n",
        totals.rounds, totals.draftTokens, totals.acceptedTokens, 100 * totals.acceptanceRate(),
        totals.meanAcceptedLength(), formatRates(totals.acceptedPerPosition()));
    err.printf("primary runs %d, drafter runs %d; time: draft %.0f ms, verify %.0f ms, refresh %.0f ms, prefill %.0f ms%n",
        totals.primaryRuns, totals.drafterRuns, totals.draftNanos / 1e6, totals.verifyNanos / 1e6,
        totals.refreshNanos / 1e6, totals.prefillNanos / 1e6);
    err.printf("decode %.2f tokens/s%n", speedRate);
    if (primaryAlone != null) {
      err.printf("primary alone %.2f tokens/s: speedup %.2fx%s%n", primaryRate,
          primaryRate == 0 ? 0 : speedRate / primaryRate,
          greedy && !standalone ? (identical ? "; outputs identical" : "; OUTPUTS DIFFER") : "");
    }
  }

  private static String decode(Tokenizer tokenizer, int[] tokens) {
    return tokenizer.decode(Arrays.stream(tokens).filter(t -> t < tokenizer.vocabSize()).toArray());
  }

  private static String formatRates(double[] rates) {
    StringBuilder s = new StringBuilder("[");
    for (int i = 0; i < rates.length; i++) s.append(i == 0 ? "" : " ").append(String.format("%.2f", rates[i]));
    return s.append("]").toString();
  }
}
