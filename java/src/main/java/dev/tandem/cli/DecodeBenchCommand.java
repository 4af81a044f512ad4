package dev.tandem.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tandem.backend.BatchRows;
import dev.tandem.backend.KvCache;
import dev.tandem.backend.cpu.CpuBackend;
import dev.tandem.backend.cpu.MemoryBandwidth;
import dev.tandem.backend.cpu.WorkerPool;
import dev.tandem.checkpoint.LoadedModel;
import dev.tandem.checkpoint.ModelLoader;
import dev.tandem.model.Decoder;
import dev.tandem.model.LlamaConfig;
import dev.tandem.model.LogitsMode;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code tandem bench decode}: batch-1 decode speed against this machine's read bandwidth, measured
 * in the same run, and the cost of one block-mode pass of q positions relative to one position.
 */
@Command(name = "decode", mixinStandardHelpOptions = true,
    description = "Decode tokens/s at batch 1, achieved GB/s vs measured read bandwidth, block-pass cost.")
public final class DecodeBenchCommand implements Callable<Integer> {
  @Option(names = "--model", required = true, description = "Model directory or GGUF file.")
  Path model;

  @Option(names = "--tokens", defaultValue = "64", description = "Decode steps to time (default: 64).")
  int tokens;

  @Option(names = "--prompt-length", defaultValue = "32", description = "Context before the timed steps (default: 32).")
  int promptLength;

  @Option(names = "--repeats", defaultValue = "15", description = "Repeats per block size (default: 15).")
  int repeats;

  @Option(names = "--blocks", split = ",", defaultValue = "1,2,4,8,16", description = "Block sizes (default: 1,2,4,8,16).")
  int[] blocks;

  @Option(names = "--json", description = "Print the results as JSON.")
  boolean json;

  @Mixin CpuOptions cpu;

  @Override
  public Integer call() throws Exception {
    if (tokens < 1 || repeats < 1 || promptLength < 1) {
      throw new IllegalArgumentException("--tokens, --repeats and --prompt-length must be >= 1");
    }
    LoadedModel loaded = ModelLoader.load(model);
    LlamaConfig c = loaded.weights().config();
    int maxBlock = Arrays.stream(blocks).max().orElse(1);
    int context = promptLength + Math.max(tokens, maxBlock) + 1;
    if (context > c.maxPositionEmbeddings()) {
      throw new IllegalArgumentException("the benchmark needs " + context + " positions; the model has "
          + c.maxPositionEmbeddings());
    }
    long weightBytes = c.weightsReadPerToken() * Float.BYTES;
    try (CpuBackend backend = cpu.backend();
        Decoder decoder = new Decoder(loaded.weights(), backend, context, Math.max(maxBlock, promptLength))) {
      double bandwidth;
      try (WorkerPool pool = new WorkerPool(backend.threads())) {
        bandwidth = MemoryBandwidth.readGigabytesPerSecond(pool, Math.max(256L << 20, 2 * weightBytes), 7);
      }
      KvCache cache = decoder.newCache(1);
      BatchRows rows = new BatchRows(decoder.maxRows());
      SplittableRandom random = new SplittableRandom(1);
      int[] prompt = random.ints(promptLength, 0, c.vocabSize()).toArray();

      // Decode at batch 1: feed the argmax back, one position per pass.
      int[] one = new int[1];
      long[] stepNanos = new long[tokens];
      for (int round = 0; round < 2; round++) {  // round 0 warms the JIT up
        cache.setLength(0, 0);
        rows.clear();
        rows.addSequence(0, prompt, 0, promptLength, 0);
        decoder.forward(rows, cache, LogitsMode.LAST);
        decoder.argmaxLogits(one);
        for (int t = 0; t < tokens; t++) {
          long start = System.nanoTime();
          rows.clear();
          rows.addSequence(0, one, 0, 1, cache.length(0));
          decoder.forward(rows, cache, LogitsMode.LAST);
          decoder.argmaxLogits(one);
          stepNanos[t] = System.nanoTime() - start;
        }
      }
      double stepMs = median(stepNanos) / 1e6;
      double achieved = weightBytes / (stepMs * 1e6);

      // One block-mode pass of q positions after the prompt, all q rows with logits (greedy verification).
      double[] blockMs = new double[blocks.length];
      int[] block = random.ints(maxBlock, 0, c.vocabSize()).toArray();
      int[] blockArgmax = new int[maxBlock];
      for (int b = 0; b < blocks.length; b++) {
        long[] nanos = new long[repeats];
        for (int r = -2; r < repeats; r++) {
          cache.setLength(0, promptLength);
          rows.clear();
          rows.addSequence(0, block, 0, blocks[b], promptLength);
          long start = System.nanoTime();
          decoder.forward(rows, cache, LogitsMode.ALL);
          decoder.argmaxLogits(blockArgmax);  // what greedy verification reads
          if (r >= 0) nanos[r] = System.nanoTime() - start;
        }
        blockMs[b] = median(nanos) / 1e6;
      }
      report(c, backend, weightBytes, bandwidth, stepMs, achieved, blockMs);
    }
    return 0;
  }

  private void report(LlamaConfig c, CpuBackend backend, long weightBytes, double bandwidth, double stepMs,
      double achieved, double[] blockMs) throws Exception {
    double single = blockMs[0];
    for (int b = 0; b < blocks.length; b++) if (blocks[b] == 1) single = blockMs[b];
    if (json) {
      ObjectMapper mapper = new ObjectMapper();
      ObjectNode n = mapper.createObjectNode();
      n.put("model", model.toString());
      n.put("backend", backend.name());
      n.put("threads", backend.threads());
      n.put("parameters", c.parameterCount());
      n.put("weight_bytes_per_token", weightBytes);
      n.put("read_bandwidth_gb_s", bandwidth);
      n.put("decode_ms_per_token", stepMs);
      n.put("decode_tokens_per_second", 1000 / stepMs);
      n.put("achieved_gb_s", achieved);
      n.put("fraction_of_bandwidth", achieved / bandwidth);
      ArrayNode arr = n.putArray("block_passes");
      for (int b = 0; b < blocks.length; b++) {
        arr.addObject().put("block", blocks[b]).put("ms", blockMs[b]).put("relative_to_1", blockMs[b] / single);
      }
      System.out.println(mapper.writerWithDefaultPrettyPrinter().writeValueAsString(n));
      return;
    }
    System.out.printf("model            %s (%,d parameters, fp32 on %s, %d threads)%n", model, c.parameterCount(),
        backend.name(), backend.threads());
    System.out.printf("weights / token  %.1f MB%n", weightBytes / 1e6);
    System.out.printf("read bandwidth   %.2f GB/s (measured now: vector sum over %d MB, median of 7)%n", bandwidth,
        Math.max(256L << 20, 2 * weightBytes) >> 20);
    System.out.printf("decode batch 1   %.2f ms/token = %.1f tokens/s (median of %d steps)%n", stepMs, 1000 / stepMs,
        tokens);
    System.out.printf("achieved         %.2f GB/s = %.0f%% of the read bandwidth%n", achieved, 100 * achieved / bandwidth);
    System.out.println("block pass       q   ms      cost / (q=1)");
    for (int b = 0; b < blocks.length; b++) {
      System.out.printf("                 %-3d %-7.2f %.2fx%n", blocks[b], blockMs[b], blockMs[b] / single);
    }
  }

  private static double median(long[] values) {
    long[] sorted = values.clone();
    Arrays.sort(sorted);
    return sorted[sorted.length / 2];
  }
}
