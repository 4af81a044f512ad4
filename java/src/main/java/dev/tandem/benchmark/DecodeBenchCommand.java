package dev.tandem.benchmark;

import dev.tandem.cli.DeviceOptions;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tandem.backend.Backend;
import dev.tandem.backend.BackendProvider;
import dev.tandem.backend.BatchRows;
import dev.tandem.backend.KvCache;
import dev.tandem.backend.cpu.CpuBackend;
import dev.tandem.backend.cpu.MemoryBandwidth;
import dev.tandem.backend.cpu.WorkerPool;
import dev.tandem.backend.cuda.CudaBackend;
import dev.tandem.backend.cuda.CudaDecodeStep;
import dev.tandem.backend.cuda.KernelProfiler;
import dev.tandem.checkpoint.LoadedModel;
import dev.tandem.checkpoint.ModelLoader;
import dev.tandem.model.Decoder;
import dev.tandem.model.LlamaConfig;
import dev.tandem.model.LogitsMode;
import dev.tandem.model.ModelShapes;
import dev.tandem.model.ModelWeights;
import dev.tandem.model.TensorNames;
import dev.tandem.model.WeightPrecision;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code tandem bench decode}: batch-1 decode speed against the memory bandwidth measured in the
 * same run (CPU: vector read bandwidth; GPU: device-to-device copy, bytes read + written), and the
 * cost of one block-mode pass of q positions relative to one position. On the GPU the decode step
 * is also timed as a replayed CUDA graph (forward + argmax captured once).
 */
@Command(name = "decode", mixinStandardHelpOptions = true,
    description = "Decode tokens/s at batch 1, achieved GB/s vs measured bandwidth, block-pass cost.")
public final class DecodeBenchCommand implements Callable<Integer> {
  static final class ModelChoice {
    @Option(names = "--model", description = "Model directory or GGUF file.")
    Path model;

    @Option(names = "--shape", description = "Random weights of a named shape instead of a model: llama-3.2-1b.")
    String shape;
  }

  @ArgGroup(exclusive = true, multiplicity = "1")
  ModelChoice choice;

  @Option(names = "--tokens", defaultValue = "64", description = "Decode steps to time (default: 64).")
  int tokens;

  @Option(names = "--prompt-length", defaultValue = "32", description = "Context before the timed steps (default: 32).")
  int promptLength;

  @Option(names = "--repeats", defaultValue = "15", description = "Repeats per block size (default: 15).")
  int repeats;

  @Option(names = "--blocks", split = ",", defaultValue = "1,2,4,8,16", description = "Block sizes (default: 1,2,4,8,16).")
  int[] blocks;

  @Option(names = "--no-graph", description = "GPU: skip the CUDA-graph decode timing.")
  boolean noGraph;

  @Option(names = "--omit-kernels", split = ";", description = "GPU timing experiment: after the timings, time the"
      + " graph step again without each group of kernels (groups separated by ';', kernels in a group by ','), to"
      + " read each group's in-graph cost as the difference (those steps compute garbage).")
  List<String> omitGroups;

  @Option(names = "--profile", defaultValue = "0", description = "GPU: after the timings, profile this many plain"
      + " decode steps and one block pass of 8 kernel by kernel (CUDA events) and print the tables.")
  int profileSteps;

  @Option(names = "--trace", description = "GPU, with --profile: write the profiled decode steps as a Chrome trace.")
  Path trace;

  @Option(names = "--dtype", defaultValue = "stored", description = "Weights as stored in the checkpoint (stored,"
      + " the default: BF16, F16, Q8_0, Q4_0, Q4_K, Q6_K computed where they lie) or converted to fp32 at load (fp32).")
  String dtype;

  @Option(names = "--json", description = "Print the results as JSON.")
  boolean json;

  @Mixin DeviceOptions device;

  private record Result(String backend, long weightBytes, String formats, String bandwidthLabel, double bandwidth,
      long[] resident, double stepMs,
      double graphStepMs, double stepWithoutPdlMs, double graphWithPdlMs, double[] blockMs, double[] blockRatios) {
    double bestStepMs() {
      return graphStepMs > 0 ? Math.min(stepMs, graphStepMs) : stepMs;
    }
  }

  @Override
  public Integer call() throws Exception {
    if (tokens < 1 || repeats < 1 || promptLength < 1) {
      throw new IllegalArgumentException("--tokens, --repeats and --prompt-length must be >= 1");
    }
    ModelWeights weights;
    String modelName;
    WeightPrecision precision = WeightPrecision.parse(dtype);
    if (choice.model != null) {
      weights = ModelLoader.load(choice.model, precision).weights();
      modelName = choice.model.toString();
    } else {
      LlamaConfig shape = ModelShapes.byName(choice.shape);
      System.err.printf("bench decode: random weights shaped like %s (%,d parameters) ...%n", choice.shape,
          shape.parameterCount());
      weights = ModelWeights.random(shape, 1);
      modelName = choice.shape + " (random weights)";
    }
    LlamaConfig c = weights.config();
    if (Arrays.stream(blocks).anyMatch(b -> b < 1)) {
      throw new IllegalArgumentException("--blocks must be >= 1, got " + Arrays.toString(blocks));
    }
    int maxBlock = Arrays.stream(blocks).max().orElse(1);
    int context = promptLength + Math.max(tokens, maxBlock) + 1;
    if (context > c.maxPositionEmbeddings()) {
      throw new IllegalArgumentException("the benchmark needs " + context + " positions; the model has "
          + c.maxPositionEmbeddings());
    }
    Result result;
    long storedBytes = weightBytesPerToken(weights);
    String formats = formats(weights);
    try (Backend backend = device.backend();
        Decoder decoder = new Decoder(weights, backend, context, Math.max(maxBlock, promptLength))) {
      weights = null;  // the backend holds what it needs (the CPU backend keeps the arrays themselves)
      result = measure(c, backend, decoder, storedBytes, formats);
    }
    report(c, modelName, result);
    return 0;
  }

  /**
   * Bytes of weights one decode step reads on the CPU, from the formats the matrices are held in:
   * every layer matrix and the output projection whole (their stored bytes, or 4 per weight for
   * fp32), the norm gains and biases as fp32, one row of the embedding table.
   */
  static long weightBytesPerToken(ModelWeights w) {
    LlamaConfig c = w.config();
    long d = c.hiddenSize();
    long bytes = 0;
    for (var e : ModelWeights.expectedShapes(c).entrySet()) {
      long[] shape = e.getValue();
      long numel = 1;
      for (long x : shape) numel *= x;
      boolean embedding = e.getKey().equals(TensorNames.EMBEDDING);
      var stored = w.stored().get(e.getKey());
      long tensorBytes = stored != null ? stored.byteSize() : numel * Float.BYTES;
      if (embedding) {
        long row = tensorBytes / shape[0];
        bytes += c.tieWordEmbeddings() ? tensorBytes : row;  // tied: the output projection reads it all
      } else {
        bytes += tensorBytes;
      }
    }
    return bytes;
  }

  /** The formats of the weight matrices with how many matrices each, e.g. "Q4_K x150, Q6_K x61". */
  static String formats(ModelWeights w) {
    java.util.Map<String, Integer> count = new java.util.TreeMap<>();
    for (var e : ModelWeights.expectedShapes(w.config()).entrySet()) {
      if (e.getValue().length == 2) count.merge(w.format(e.getKey()).toString(), 1, Integer::sum);
    }
    StringBuilder sb = new StringBuilder();
    count.forEach((f, n) -> sb.append(sb.isEmpty() ? "" : ", ").append(f).append(" x").append(n));
    return sb.toString();
  }

  /** Resident memory of this process from /proc/self/status: {VmRSS, RssAnon, RssFile} in bytes (-1 if unknown). */
  static long[] residentMemory() {
    long[] r = {-1, -1, -1};
    try {
      for (String line : java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/self/status"))) {
        String[] f = line.split("\\s+");
        int i = line.startsWith("VmRSS:") ? 0 : line.startsWith("RssAnon:") ? 1 : line.startsWith("RssFile:") ? 2 : -1;
        if (i >= 0) r[i] = Long.parseLong(f[1]) * 1024;
      }
    } catch (java.io.IOException | RuntimeException e) {
      // not Linux: unknown
    }
    return r;
  }

  private Result measure(LlamaConfig c, Backend backend, Decoder decoder, long storedBytes, String formats) {
    long weightBytes;
    String label;
    double bandwidth;
    if (backend instanceof CudaBackend cuda) {
      long vectorElements = 2L * c.numHiddenLayers() * c.hiddenSize() + c.hiddenSize();
      weightBytes = (c.weightsReadPerToken() - vectorElements) * 2 + vectorElements * 4;  // bf16 matrices, fp32 gains
      label = "copy bandwidth (device to device, read + write, 1 GiB, median of 9)";
      bandwidth = cuda.copyBandwidth(1L << 30, 9);
    } else {
      weightBytes = storedBytes;
      int threads = backend instanceof CpuBackend cpu ? cpu.threads() : 1;
      long bytes = Math.max(256L << 20, 2 * weightBytes);
      label = "read bandwidth (vector sum over " + (bytes >> 20) + " MB, median of 7)";
      try (WorkerPool pool = new WorkerPool(threads)) {
        bandwidth = MemoryBandwidth.readGigabytesPerSecond(pool, bytes, 7);
      }
    }
    KvCache cache = decoder.newCache(1);
    BatchRows rows = new BatchRows(decoder.maxRows());
    SplittableRandom random = new SplittableRandom(1);
    int[] prompt = random.ints(promptLength, 0, c.vocabSize()).toArray();

    // Decode at batch 1: feed the argmax back, one position per pass. Where programmatic dependent launch
    // is available, both steps are measured again with the other choice (plain steps without it, the
    // graph with it), same run.
    CudaBackend cuda = backend instanceof CudaBackend gpu ? gpu : null;
    boolean comparePdl = cuda != null && cuda.programmaticLaunchAvailable();
    int[] one = new int[1];
    double stepMs = 0, graphStepMs = 0, stepOtherPdlMs = 0, graphOtherPdlMs = 0;
    boolean graphFailed = false;
    try {
      for (boolean other : comparePdl ? new boolean[] {false, true} : new boolean[] {false}) {
        if (comparePdl) {
          cuda.useProgrammaticLaunch(!other);    // default: on for plain launches
          cuda.useProgrammaticLaunchInGraphs(other);  // default: off in graphs
        }
        double plain = plainStepMs(decoder, cache, rows, prompt, one);
        double graph = 0;
        if (cuda != null && !noGraph && !graphFailed) {
          if (other) cuda.useProgrammaticLaunch(true);
          try {
            graph = graphStepMs(decoder, cache, rows, prompt, one);
          } catch (RuntimeException e) {  // report, and keep the plain-step and block-pass figures
            System.err.println("bench decode: the CUDA-graph step failed: " + e);
            graphFailed = true;
          }
        }
        if (other) {
          stepOtherPdlMs = plain;
          graphOtherPdlMs = graph;
        } else {
          stepMs = plain;
          graphStepMs = graph;
        }
      }
    } finally {
      if (comparePdl) {
        cuda.useProgrammaticLaunch(true);
        cuda.useProgrammaticLaunchInGraphs(false);
      }
    }

    // One block-mode pass of q positions after the prompt, all q rows with logits (greedy verification).
    // Each repeat times every block size in turn, so a drift of the machine's speed during the run
    // moves all of them alike and the ratios to q = 1 stay comparable.
    int maxBlock = Arrays.stream(blocks).max().orElse(1);
    int[] block = random.ints(maxBlock, 0, c.vocabSize()).toArray();
    int[] blockArgmax = new int[maxBlock];
    long[][] nanos = new long[blocks.length][repeats];
    for (int r = -2; r < repeats; r++) {
      for (int b = 0; b < blocks.length; b++) {
        cache.setLength(0, promptLength);
        rows.clear();
        rows.addSequence(0, block, 0, blocks[b], promptLength);
        long start = System.nanoTime();
        decoder.forward(rows, cache, LogitsMode.ALL);
        decoder.argmaxLogits(blockArgmax);  // what greedy verification reads (waits for the device)
        if (r >= 0) nanos[b][r] = System.nanoTime() - start;
      }
    }
    double[] blockMs = new double[blocks.length];
    for (int b = 0; b < blocks.length; b++) blockMs[b] = median(nanos[b]) / 1e6;
    // Cost relative to q = 1 (else the first size): the median of the ratios within each repeat.
    int reference = 0;
    for (int b = 0; b < blocks.length; b++) if (blocks[b] == 1) reference = b;
    double[] blockRatios = new double[blocks.length];
    for (int b = 0; b < blocks.length; b++) {
      double[] ratios = new double[repeats];
      for (int r = 0; r < repeats; r++) ratios[r] = (double) nanos[b][r] / nanos[reference][r];
      blockRatios[b] = SpeedComparison.median(ratios);
    }
    if (cuda != null && profileSteps > 0) profile(cuda, decoder, cache, rows, prompt, block);
    if (cuda != null && omitGroups != null && !noGraph && !graphFailed) {
      for (String group : omitGroups) {
        try {
          cuda.omitForTiming(List.of(group.split(",")));
          double ms = graphStepMs(decoder, cache, rows, prompt, one);
          System.out.printf("graph without %-40s %.3f ms/token: %.3f ms less than the full step%n", group, ms,
              graphStepMs - ms);
        } catch (RuntimeException e) {  // a garbage step may produce an id the next step refuses: report, go on
          System.out.printf("graph without %-40s failed: %s%n", group, e.getMessage());
        } finally {
          cuda.omitForTiming(List.of());
        }
      }
    }
    cache.close();
    if (graphFailed) System.err.println("bench decode: graph timing missing (see above)");
    long[] rss = residentMemory();
    return new Result(BackendProvider.describe(backend), weightBytes, formats, label, bandwidth, rss, stepMs, graphStepMs,
        stepOtherPdlMs, graphOtherPdlMs, blockMs, blockRatios);
  }

  /** Kernel-by-kernel tables of plain decode steps and of one verification-sized block pass. */
  private void profile(CudaBackend cuda, Decoder decoder, KvCache cache, BatchRows rows, int[] prompt, int[] block) {
    try {
      int[] one = new int[1];
      prefill(decoder, cache, rows, prompt, one);
      KernelProfiler profiler = cuda.startProfiling();
      for (int t = 0; t < profileSteps; t++) {
        rows.clear();
        rows.addSequence(0, one, 0, 1, cache.length(0));
        decoder.forward(rows, cache, LogitsMode.LAST);
        decoder.argmaxLogits(one);
      }
      cuda.stopProfiling();
      System.out.printf("profile: plain decode step (mean over %d steps; CUDA events around every launch)%n",
          profileSteps);
      System.out.print(profiler.table(profileSteps));
      if (trace != null) {
        profiler.writeChromeTrace(trace);
        System.out.println("trace: " + trace);
      }
      int q = Math.min(8, block.length);
      cache.setLength(0, promptLength);
      rows.clear();
      rows.addSequence(0, block, 0, q, promptLength);
      profiler = cuda.startProfiling();
      decoder.forward(rows, cache, LogitsMode.ALL);
      decoder.argmaxLogits(new int[q]);
      cuda.stopProfiling();
      System.out.printf("profile: one block pass of %d positions (verification)%n", q);
      System.out.print(profiler.table(1));
    } catch (java.io.IOException | RuntimeException e) {
      System.err.println("bench decode: profiling failed: " + e);
    }
  }

  private void prefill(Decoder decoder, KvCache cache, BatchRows rows, int[] prompt, int[] next) {
    cache.setLength(0, 0);
    rows.clear();
    rows.addSequence(0, prompt, 0, promptLength, 0);
    decoder.forward(rows, cache, LogitsMode.LAST);
    decoder.argmaxLogits(next);
  }

  private void report(LlamaConfig c, String modelName, Result r) throws Exception {
    double best = r.bestStepMs();
    double achieved = r.weightBytes() / (best * 1e6);
    if (json) {
      ObjectMapper mapper = new ObjectMapper();
      ObjectNode n = mapper.createObjectNode();
      n.put("model", modelName);
      n.put("backend", r.backend());
      n.put("parameters", c.parameterCount());
      n.put("weight_bytes_per_token", r.weightBytes());
      n.put("weight_formats", r.formats());
      n.put("resident_bytes", r.resident()[0]);
      n.put("resident_anon_bytes", r.resident()[1]);
      n.put("resident_file_bytes", r.resident()[2]);
      n.put("bandwidth_kind", r.bandwidthLabel());
      n.put("bandwidth_gb_s", r.bandwidth());
      n.put(r.bandwidthLabel().startsWith("copy") ? "copy_bandwidth_gb_s" : "read_bandwidth_gb_s", r.bandwidth());
      n.put("decode_ms_per_token", r.stepMs());
      if (r.graphStepMs() > 0) n.put("decode_graph_ms_per_token", r.graphStepMs());
      if (r.stepWithoutPdlMs() > 0) n.put("decode_without_pdl_ms_per_token", r.stepWithoutPdlMs());
      if (r.graphWithPdlMs() > 0) n.put("decode_graph_with_pdl_ms_per_token", r.graphWithPdlMs());
      n.put("decode_tokens_per_second", 1000 / best);
      n.put("achieved_gb_s", achieved);
      n.put("fraction_of_bandwidth", achieved / r.bandwidth());
      ArrayNode arr = n.putArray("block_passes");
      for (int b = 0; b < blocks.length; b++) {
        arr.addObject().put("block", blocks[b]).put("ms", r.blockMs()[b]).put("relative_to_1", r.blockRatios()[b]);
      }
      System.out.println(mapper.writerWithDefaultPrettyPrinter().writeValueAsString(n));
      return;
    }
    System.out.printf("model            %s (%,d parameters)%n", modelName, c.parameterCount());
    System.out.printf("backend          %s%n", r.backend());
    System.out.printf("weights / token  %.1f MB (matrices: %s)%n", r.weightBytes() / 1e6, r.formats());
    if (r.resident()[0] >= 0) {
      System.out.printf("resident memory  %.1f MB (anonymous %.1f MB, file-backed %.1f MB: the mapped checkpoint)%n",
          r.resident()[0] / 1e6, r.resident()[1] / 1e6, r.resident()[2] / 1e6);
    }
    System.out.printf("bandwidth        %.1f GB/s: %s%n", r.bandwidth(), r.bandwidthLabel());
    System.out.printf("decode batch 1   %.3f ms/token = %.1f tokens/s (median of %d steps)%n", r.stepMs(),
        1000 / r.stepMs(), tokens);
    if (r.graphStepMs() > 0) {
      System.out.printf("decode, graph    %.3f ms/token = %.1f tokens/s (captured forward + argmax, replayed)%n",
          r.graphStepMs(), 1000 / r.graphStepMs());
    }
    if (r.stepWithoutPdlMs() > 0) {
      System.out.printf("decode, no PDL   %.3f ms/token = %.1f tokens/s (plain steps without programmatic dependent"
          + " launch: PDL gains %.2fx there)%n", r.stepWithoutPdlMs(), 1000 / r.stepWithoutPdlMs(),
          r.stepWithoutPdlMs() / r.stepMs());
    }
    if (r.graphWithPdlMs() > 0) {
      System.out.printf("decode, graph, PDL %.3f ms/token = %.1f tokens/s (the graph captured with programmatic"
          + " dependent launch: %.2fx the default graph)%n", r.graphWithPdlMs(), 1000 / r.graphWithPdlMs(),
          r.graphStepMs() / r.graphWithPdlMs());
    }
    System.out.printf("achieved         %.1f GB/s = %.0f%% of the bandwidth (best of the above)%n", achieved,
        100 * achieved / r.bandwidth());
    System.out.println("block pass       q   ms       cost / (q=1), median of the ratios within each repeat");
    for (int b = 0; b < blocks.length; b++) {
      System.out.printf("                 %-3d %-8.3f %.2fx%n", blocks[b], r.blockMs()[b], r.blockRatios()[b]);
    }
  }

  /** Median ms of a plain decode step (forward + argmax, one position), after a warm-up round. */
  private double plainStepMs(Decoder decoder, KvCache cache, BatchRows rows, int[] prompt, int[] one) {
    long[] stepNanos = new long[tokens];
    for (int round = 0; round < 2; round++) {  // round 0 warms up (JIT, module loads)
      prefill(decoder, cache, rows, prompt, one);
      for (int t = 0; t < tokens; t++) {
        long start = System.nanoTime();
        rows.clear();
        rows.addSequence(0, one, 0, 1, cache.length(0));
        decoder.forward(rows, cache, LogitsMode.LAST);
        decoder.argmaxLogits(one);
        stepNanos[t] = System.nanoTime() - start;
      }
    }
    return median(stepNanos) / 1e6;
  }

  /** Median ms of a decode step captured once as a CUDA graph and replayed (forward + argmax). */
  private double graphStepMs(Decoder decoder, KvCache cache, BatchRows rows, int[] prompt, int[] one) {
    long[] graphNanos = new long[tokens];
    try (CudaDecodeStep step = new CudaDecodeStep(decoder, cache, 0)) {
      for (int round = 0; round < 2; round++) {  // round 0 captures
        prefill(decoder, cache, rows, prompt, one);
        for (int t = 0; t < tokens; t++) {
          long start = System.nanoTime();
          step.step(one, one);
          graphNanos[t] = System.nanoTime() - start;
        }
      }
    }
    return median(graphNanos) / 1e6;
  }

  private static double median(long[] values) {
    long[] sorted = values.clone();
    Arrays.sort(sorted);
    return sorted[sorted.length / 2];
  }
}
