package dev.tandem.bench;

import de.kherud.llama.InferenceParameters;
import de.kherud.llama.LlamaModel;
import de.kherud.llama.LlamaOutput;
import de.kherud.llama.ModelParameters;
import de.kherud.llama.args.LogFormat;
import dev.tandem.backend.BatchRows;
import dev.tandem.backend.KvCache;
import dev.tandem.backend.cpu.CpuBackend;
import dev.tandem.checkpoint.ModelLoader;
import dev.tandem.model.Decoder;
import dev.tandem.model.LogitsMode;
import dev.tandem.model.ModelWeights;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * Batch-1 decode on one GGUF file, llama.cpp (de.kherud:llama, its CPU build, through JNI) against
 * this engine (CPU backend, weights as stored), in the same process, alternating the two for a few
 * rounds so that the machine's drift hits both alike. Each round: llama.cpp generates {@code tokens}
 * tokens greedily after a short prompt (the time between consecutive tokens, median), then our
 * decoder decodes {@code tokens} steps after a prompt of the same length (median step).
 *
 * <p>Run: {@code $JAVA --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -cp
 * "bench/target/tandem-bench.jar:bench/target/lib/*" dev.tandem.bench.LlamaCppDecodeComparison FILE.gguf
 * [threads=2] [tokens=64] [rounds=3]}
 */
public final class LlamaCppDecodeComparison {
  private LlamaCppDecodeComparison() {}

  public static void main(String[] args) throws Exception {
    Path gguf = Path.of(args[0]);
    int threads = args.length > 1 ? Integer.parseInt(args[1]) : 2;
    int tokens = args.length > 2 ? Integer.parseInt(args[2]) : 64;
    int rounds = args.length > 3 ? Integer.parseInt(args[3]) : 3;
    if (System.getProperty("llama.log") == null) LlamaModel.setLogger(LogFormat.TEXT, (level, message) -> { });
    ModelWeights weights = ModelLoader.load(gguf).weights();
    double[] ours = new double[rounds], theirs = new double[rounds];
    try (CpuBackend backend = CpuBackend.fast(threads);
        Decoder decoder = new Decoder(weights, backend, 256, 32)) {
      for (int r = 0; r < rounds; r++) {
        theirs[r] = llamaCpp(gguf, threads, tokens);
        ours[r] = tandem(decoder, tokens);
        System.out.printf("round %d: llama.cpp %.2f ms/token, tandem %.2f ms/token (%.2fx llama.cpp's tokens/s)%n",
            r + 1, theirs[r], ours[r], theirs[r] / ours[r]);
      }
    }
    Arrays.sort(ours);
    Arrays.sort(theirs);
    System.out.printf("%s: llama.cpp median %.2f ms/token [%.2f .. %.2f], tandem median %.2f ms/token [%.2f .. %.2f],"
        + " speedup %.2fx%n", gguf.getFileName(), theirs[rounds / 2], theirs[0], theirs[rounds - 1], ours[rounds / 2],
        ours[0], ours[rounds - 1], theirs[rounds / 2] / ours[rounds / 2]);
    System.exit(0);  // llama.cpp's native threads are not daemons: without this the JVM stays up
  }

  /** Median ms between consecutive generated tokens (the first, which includes the prompt, left out). */
  static double llamaCpp(Path gguf, int threads, int tokens) {
    ModelParameters params = new ModelParameters().setModel(gguf.toString()).setCtxSize(256).setThreads(threads)
        .setThreadsBatch(threads).setGpuLayers(0).setSeed(1);
    try (LlamaModel llama = new LlamaModel(params)) {
      InferenceParameters inference = new InferenceParameters("Once upon a time there was a llama who")
          .setNPredict(tokens).setTemperature(0f).setTopK(1).setRepeatPenalty(1f).setIgnoreEos(true).setSeed(1)
          .setCachePrompt(false);
      long[] at = new long[tokens + 1];
      int n = 0;
      for (LlamaOutput o : llama.generate(inference)) {
        if (n <= tokens) at[n++] = System.nanoTime();
      }
      double[] gaps = new double[Math.max(1, n - 2)];
      for (int i = 2; i < n; i++) gaps[i - 2] = (at[i] - at[i - 1]) / 1e6;
      Arrays.sort(gaps);
      return gaps[gaps.length / 2];
    }
  }

  /** Median ms of a decode step (forward + argmax) after a 16-token prompt, after a warm-up pass. */
  static double tandem(Decoder decoder, int tokens) {
    KvCache cache = decoder.newCache(1);
    BatchRows rows = new BatchRows(decoder.maxRows());
    int[] prompt = new int[16];
    for (int i = 0; i < prompt.length; i++) prompt[i] = 100 + 37 * i;
    int[] one = new int[1];
    double[] steps = new double[tokens];
    for (int round = 0; round < 2; round++) {
      cache.setLength(0, 0);
      rows.clear();
      rows.addSequence(0, prompt, 0, prompt.length, 0);
      decoder.forward(rows, cache, LogitsMode.LAST);
      decoder.argmaxLogits(one);
      for (int t = 0; t < tokens; t++) {
        long start = System.nanoTime();
        rows.clear();
        rows.addSequence(0, one, 0, 1, cache.length(0));
        decoder.forward(rows, cache, LogitsMode.LAST);
        decoder.argmaxLogits(one);
        steps[t] = (System.nanoTime() - start) / 1e6;
      }
    }
    cache.close();
    Arrays.sort(steps);
    return steps[tokens / 2];
  }
}
