package dev.tandem.cli;

import dev.tandem.backend.cpu.WorkerPool;
import dev.tandem.model.LlamaConfig;
import dev.tandem.train.FlopCount;
import dev.tandem.train.Gemm;
import dev.tandem.train.LanguageModelStep;
import dev.tandem.train.RecipeRun;
import dev.tandem.train.TrainModel;
import java.lang.management.ManagementFactory;
import java.util.Arrays;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code tandem train bench}: training throughput on this machine. The three products of a linear layer
 * (forward X W^T, input gradient dY W, weight gradient dY^T X) in GFLOP/s at the model's shapes, then
 * whole training steps (forward, loss, backward, no optimizer) in tokens/s and GFLOP/s, with the CPU time
 * the process got (on a shared machine, wall-clock figures fall when other work runs).
 */
@Command(name = "bench", mixinStandardHelpOptions = true,
    description = "Training throughput: GEMM GFLOP/s at the model's shapes and whole steps in tokens/s.")
public final class TrainBenchCommand implements Callable<Integer> {
  @Option(names = "--hidden", defaultValue = "384") int hidden;
  @Option(names = "--layers", defaultValue = "8") int layers;
  @Option(names = "--heads", defaultValue = "6") int heads;
  @Option(names = "--intermediate", defaultValue = "1024") int intermediate;
  @Option(names = "--vocab", defaultValue = "2048") int vocab;
  @Option(names = "--batch", defaultValue = "8") int batch;
  @Option(names = "--seq-len", defaultValue = "256") int seqLen;
  @Option(names = "--steps", defaultValue = "3", description = "Timed steps after one warm-up step (default: 3).")
  int steps;
  @Option(names = "--threads", defaultValue = "0", converter = ThreadCount.class) int threads;

  @Override
  public Integer call() {
    int t = threads > 0 ? threads : Runtime.getRuntime().availableProcessors();
    LlamaConfig c = new LlamaConfig(vocab, hidden, intermediate, layers, heads, heads, 10000.0, 1e-5, 4 * seqLen, false,
        "float32");
    int rows = batch * seqLen;
    try (WorkerPool pool = new WorkerPool(t)) {
      Gemm gemm = new Gemm(pool);
      System.out.printf(Locale.ROOT, "threads %d; rows %d (batch %d x %d tokens)%n", t, rows, batch, seqLen);
      int[][] shapes = {{hidden, hidden}, {intermediate, hidden}, {hidden, intermediate}, {vocab, hidden}};
      SplittableRandom r = new SplittableRandom(1);
      for (int[] s : shapes) {
        int out = s[0], in = s[1];
        float[] x = random(r, rows * in), w = random(r, out * in), y = random(r, rows * out);
        float[] dx = new float[rows * in], dw = new float[out * in];
        double flops = 2.0 * rows * out * in;
        double[] best = new double[3];
        for (int rep = 0; rep < 5; rep++) {
          long t0 = System.nanoTime();
          gemm.linearForward(x, rows, in, w, out, y);
          long t1 = System.nanoTime();
          gemm.linearBackwardInput(y, rows, out, w, in, dx, false);
          long t2 = System.nanoTime();
          gemm.linearBackwardWeight(y, rows, out, x, in, dw);
          long t3 = System.nanoTime();
          best[0] = Math.max(best[0], flops / (t1 - t0));
          best[1] = Math.max(best[1], flops / (t2 - t1));
          best[2] = Math.max(best[2], flops / (t3 - t2));
        }
        System.out.printf(Locale.ROOT, "linear %5d x %-5d  forward %5.1f  dX %5.1f  dW %5.1f GFLOP/s (best of 5)%n", out,
            in, best[0], best[1], best[2]);
      }
      TrainModel model = TrainModel.plain(RecipeRun.initialWeights(c, 1));
      LanguageModelStep step = new LanguageModelStep(gemm, model, null, 1f, 0f, batch, seqLen, true);
      for (int i = 0; i < rows; i++) {
        step.inputs()[i] = r.nextInt(vocab);
        step.targets()[i] = r.nextInt(vocab);
      }
      double perToken = FlopCount.trainingPerToken(c, seqLen, 0);
      var os = (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
      double[] wall = new double[steps];
      step.run(true);
      for (int s = 0; s < steps; s++) {
        long cpu0 = os.getProcessCpuTime(), t0 = System.nanoTime();
        step.run(true);
        long t1 = System.nanoTime(), cpu1 = os.getProcessCpuTime();
        wall[s] = (t1 - t0) / 1e9;
        System.out.printf(Locale.ROOT, "step: %.2f s, %.0f tokens/s, %.1f GFLOP/s; the process got %.2f cores%n", wall[s],
            rows / wall[s], rows * perToken / wall[s] / 1e9, (cpu1 - cpu0) / 1e9 / wall[s]);
      }
      Arrays.sort(wall);
      System.out.printf(Locale.ROOT, "model %,d parameters, %,.0f training FLOPs per token: median step %.0f tokens/s ="
          + " %.1f GFLOP/s%n", model.parameterCount(), perToken, rows / wall[steps / 2],
          rows * perToken / wall[steps / 2] / 1e9);
    }
    return 0;
  }

  private static float[] random(SplittableRandom r, int n) {
    float[] a = new float[n];
    for (int i = 0; i < n; i++) a[i] = (float) (r.nextDouble() - 0.5);
    return a;
  }
}
