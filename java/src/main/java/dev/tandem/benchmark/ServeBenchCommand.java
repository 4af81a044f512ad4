package dev.tandem.benchmark;

import dev.tandem.cli.DeviceOptions;
import dev.tandem.cli.SpeculationModeConverter;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tandem.backend.Backend;
import dev.tandem.backend.BackendProvider;
import dev.tandem.benchmark.EngineTarget;
import dev.tandem.benchmark.HttpTarget;
import dev.tandem.benchmark.ServeBenchmark;
import dev.tandem.checkpoint.LoadedModel;
import dev.tandem.checkpoint.ModelLoader;
import dev.tandem.engine.Engine;
import dev.tandem.engine.EngineBuilder;
import dev.tandem.engine.GenerationRequest;
import dev.tandem.engine.SpeculationPolicy;
import dev.tandem.sampling.SamplingParams;
import dev.tandem.train.data.TextSplit;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code tandem bench serve}: the serving benchmark, plain decoding and each drafter side by side. */
@Command(name = "serve", mixinStandardHelpOptions = true,
    description = "Serving benchmark, in-process or over HTTP (--url): N requests with prompts cut from a text file, as a closed loop of C"
        + " clients, Poisson arrivals at a rate, or static batches; vLLM's figures (throughput, TTFT, TPOT, ITL) for"
        + " plain decoding and each drafter, in one run.")
public final class ServeBenchCommand implements Callable<Integer> {
  @Option(names = "--model", required = true, description = "The primary: a model directory or GGUF file.")
  Path model;

  @Option(names = "--drafter", description = "A drafter to measure beside plain decoding (repeatable).")
  List<Path> drafters = new ArrayList<>();

  @Option(names = "--no-plain", description = "Skip the plain-decoding configuration.")
  boolean noPlain;

  @Option(names = "--gamma", description = "Most drafts per round (default 4).")
  Integer gamma;

  @Option(names = "--speculation", defaultValue = "ADAPTIVE", converter = SpeculationModeConverter.class,
      description = "adaptive (default) or fixed: how the drafter configurations choose their drafts.")
  SpeculationPolicy.Mode speculation;

  @Option(names = "--prompts", required = true, description = "A text file (UTF-8, or .gz) the prompts are cut from.")
  Path prompts;

  @Option(names = "--requests", defaultValue = "64", description = "Requests per measurement (default: 64).")
  int requests;

  @Option(names = "--concurrency", split = ",", description = "Closed loop: clients at once (one measurement each).")
  int[] concurrency;

  @Option(names = "--rate", split = ",", description = "Poisson arrivals: requests per second (one measurement each).")
  double[] rate;

  @Option(names = "--static", description = "Static batches, the way a static batch runs: a batch starts when the"
      + " previous one has finished and takes the requests that have arrived (at most the concurrency, or"
      + " --max-concurrency with --rate).")
  boolean staticBatches;

  @Option(names = "--max-concurrency", defaultValue = "16", description = "Engine slots with --rate (default: 16).")
  int maxConcurrency;

  @Option(names = "--max-tokens", defaultValue = "64", description = "New tokens per request: N, or LO:HI drawn"
      + " uniformly per request (default: 64).")
  String maxTokens;

  @Option(names = "--prompt-tokens", defaultValue = "32", description = "Prompt tokens per request: N or LO:HI"
      + " (default: 32).")
  String promptTokens;

  @Option(names = "--context", description = "Context length (default: the models' maximum, at most 4096).")
  Integer context;

  @Option(names = "--seed", defaultValue = "1", description = "Seed of the prompts, lengths and arrivals.")
  long seed;

  @Option(names = "--json", description = "Print {\"runs\": [...]} with vLLM's key names instead of a table.")
  boolean json;

  @Option(names = "--url", description = "Send the traffic over HTTP to a running tandem serve (or any OpenAI-compatible"
      + " server that streams tandem's token_ids) at this address, e.g. http://127.0.0.1:8000, instead of an engine in"
      + " this process; TTFT and ITL are then measured at the client. --model still cuts the prompts (its tokenizer"
      + " must be the server's).")
  java.net.URI url;

  @Option(names = "--api-key", description = "With --url: the server's API key.")
  String apiKey;

  @Mixin DeviceOptions device;

  @Override
  public Integer call() throws Exception {
    if ((concurrency == null) == (rate == null)) throw new IllegalArgumentException("give --concurrency or --rate");
    if (requests < 1 || requests > 1_000_000) throw new IllegalArgumentException("--requests must be in [1, 1000000]");
    if (concurrency != null) for (int c : concurrency) if (c < 1 || c > 1024) {
      throw new IllegalArgumentException("--concurrency values must be in [1, 1024], got " + c);
    }
    if (rate != null) for (double r : rate) if (!(r > 0 && r < 1e6)) {
      throw new IllegalArgumentException("--rate values must be > 0, got " + r);
    }
    int[] newTokens = range("--max-tokens", maxTokens, 1);
    int[] promptLengths = range("--prompt-tokens", promptTokens, 1);
    LoadedModel primary = ModelLoader.load(model);
    if (primary.tokenizer() == null) throw new IllegalArgumentException(model + " has no tokenizer to cut prompts with");
    int[] text = primary.tokenizer().encode(String.join("\n", TextSplit.of(List.of(prompts), 1 << 20, 0).texts(false)));
    List<GenerationRequest> work = requests(text, newTokens, promptLengths);
    int slots = concurrency != null ? Arrays.stream(concurrency).max().getAsInt() : maxConcurrency;
    List<String> names = new ArrayList<>();
    List<Path> configs = new ArrayList<>();
    if (!noPlain) {
      names.add("plain");
      configs.add(null);
    }
    for (Path d : drafters) {
      names.add(d.getFileName().toString());
      configs.add(d);
    }
    if (configs.isEmpty()) throw new IllegalArgumentException("nothing to measure: --no-plain and no --drafter");
    if (url != null) return overHttp(work, slots);
    ObjectMapper mapper = new ObjectMapper();
    ObjectNode root = mapper.createObjectNode();
    ArrayNode runs = root.putArray("runs");
    PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
    try (Backend backend = device.backend()) {
      root.put("backend", BackendProvider.describe(backend));
      root.put("requests", work.size());
      if (!json) {
        out.printf(Locale.ROOT, "tandem bench serve: %s, %d requests, prompts %s tokens, max tokens %s, %s%n", model,
            work.size(), promptTokens, maxTokens, BackendProvider.describe(backend));
        out.printf(Locale.ROOT, "%-22s %-16s %9s %10s %9s %9s %9s %9s %9s %8s%n", "config", "load", "req/s", "out tok/s",
            "ttft mean", "ttft p99", "tpot mean", "itl mean", "itl p99", "accepted");
      }
      for (int c = 0; c < configs.size(); c++) {
        EngineBuilder b = EngineBuilder.primary(primary).drafter(configs.get(c)).context(context).slots(slots)
            .backend(backend).speculation(speculation);
        if (configs.get(c) != null) b.gamma(gamma);
        try (Engine engine = b.build()) {
          if (engine.passCosts() != null && !json) out.println("  " + names.get(c) + ": " + engine.passCosts().describe());
          measure(new EngineTarget(engine), names.get(c), work, slots, runs, out);
        }
      }
    }
    if (json) out.println(mapper.writerWithDefaultPrettyPrinter().writeValueAsString(root));
    return 0;
  }

  /** The measurements against a server over HTTP: the server's own configuration, one row per level. */
  private int overHttp(List<GenerationRequest> work, int slots) throws Exception {
    if (!drafters.isEmpty() || gamma != null) {
      throw new IllegalArgumentException("with --url the server's drafter and settings apply: drop --drafter and --gamma");
    }
    HttpTarget target = new HttpTarget(url, apiKey);
    ObjectMapper mapper = new ObjectMapper();
    ObjectNode root = mapper.createObjectNode();
    root.put("url", url.toString());
    root.put("requests", work.size());
    ArrayNode runs = root.putArray("runs");
    PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
    String name = "http " + target.model();
    if (!json) {
      out.printf(Locale.ROOT, "tandem bench serve: %s over HTTP (%s), %d requests, prompts %s tokens, max tokens %s%n",
          url, target.model(), work.size(), promptTokens, maxTokens);
      out.printf(Locale.ROOT, "%-22s %-16s %9s %10s %9s %9s %9s %9s %9s %8s%n", "config", "load", "req/s", "out tok/s",
          "ttft mean", "ttft p99", "tpot mean", "itl mean", "itl p99", "accepted");
    }
    measure(target, name, work, slots, runs, out);
    root.put("connection_retries", target.retries());
    if (target.retries() > 0) {
      System.err.println("tandem bench serve: " + target.retries() + " request(s) sent again after their connection"
          + " closed before a response began");
    }
    if (json) out.println(mapper.writerWithDefaultPrettyPrinter().writeValueAsString(root));
    return 0;
  }

  /** A warm-up, then one measurement per concurrency or rate against {@code target}: rows of {@code runs}. */
  private void measure(ServeBenchmark.Target target, String name, List<GenerationRequest> work, int slots, ArrayNode runs,
      PrintStream out) throws InterruptedException {
    ServeBenchmark.run(target, work.subList(0, Math.min(work.size(), 2 * slots)), ServeBenchmark.Mode.CLOSED_LOOP, slots,
        false, slots, seed);  // warm-up
    double[] levels = concurrency != null ? Arrays.stream(concurrency).asDoubleStream().toArray() : rate;
    for (double level : levels) {
      ServeBenchmark.Mode mode = rate != null ? ServeBenchmark.Mode.POISSON : ServeBenchmark.Mode.CLOSED_LOOP;
      ObjectNode r = ServeBenchmark.run(target, work, mode, level, staticBatches, slots, seed);
      ObjectNode run = runs.addObject();
      run.put("config", name);
      if (rate != null) run.put("rate", level); else run.put("concurrency", (int) level);
      run.put("scheduling", staticBatches ? "static" : "continuous");
      run.setAll(r);
      if (!json) {
        String load = (staticBatches ? "static, " : "") + (rate != null
            ? String.format(Locale.ROOT, "rate %.2f/s", level) : "concurrency " + (int) level);
        out.printf(Locale.ROOT, "%-22s %-16s %9.2f %10.1f %9.1f %9.1f %9.2f %9.2f %9.2f %8.2f%n", name, load,
            r.get("request_throughput").asDouble(), r.get("output_throughput").asDouble(),
            r.get("mean_ttft_ms").asDouble(), r.get("p99_ttft_ms").asDouble(), r.get("mean_tpot_ms").asDouble(),
            r.get("mean_itl_ms").asDouble(), r.get("p99_itl_ms").asDouble(), r.get("mean_accepted_length").asDouble());
      }
    }
  }

  /** N or LO:HI as [lo, hi]. */
  private static int[] range(String option, String value, int min) {
    String[] parts = value.split(":", -1);
    try {
      int lo = Integer.parseInt(parts[0].trim());
      int hi = parts.length == 2 ? Integer.parseInt(parts[1].trim()) : lo;
      if (parts.length > 2 || lo < min || hi < lo || hi > 1 << 20) throw new NumberFormatException();
      return new int[] {lo, hi};
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(option + " must be N or LO:HI with " + min + " <= LO <= HI, got '" + value + "'");
    }
  }

  /** Requests with prompts cut at random places of the text, lengths drawn from the ranges (greedy, no EOS stop). */
  private List<GenerationRequest> requests(int[] text, int[] newTokens, int[] promptLengths) {
    SplittableRandom random = new SplittableRandom(seed);
    List<GenerationRequest> out = new ArrayList<>();
    if (text.length < promptLengths[1] + 1) {
      throw new IllegalArgumentException(prompts + " has " + text.length + " tokens, too few for prompts of "
          + promptLengths[1]);
    }
    for (int i = 0; i < requests; i++) {
      int length = promptLengths[0] + random.nextInt(promptLengths[1] - promptLengths[0] + 1);
      int at = random.nextInt(text.length - length);
      int max = newTokens[0] + random.nextInt(newTokens[1] - newTokens[0] + 1);
      out.add(new GenerationRequest(Arrays.copyOfRange(text, at, at + length), max, SamplingParams.greedy(), -1, 0));
    }
    return out;
  }
}
