package dev.tandem.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tandem.train.data.PackedSequences;
import dev.tandem.util.AtomicFiles;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The training loop of one stage: batches from the packed training stream, {@link LanguageModelStep},
 * AdamW with the learning-rate schedule and gradient clipping, validation loss at intervals, the CSV
 * log, the progress line, and atomic checkpoints every {@code checkpointEvery} updates and at the end.
 *
 * <p>A stage lives in its own directory. Started there again with {@code resume}, it continues from the
 * checkpoint exactly: parameters, moments, update count, data cursor and generator state are restored,
 * and every computation is deterministic, so a run killed at any moment and resumed ends bit for bit
 * where an uninterrupted run ends. A finished stage leaves {@code done.json}; running it again returns
 * its summary without training.
 */
public final class Trainer {
  public static final String DONE_FILE = "done.json";
  private static final ObjectMapper JSON = new ObjectMapper();

  /** What to run. blockLengths: tandem students draw each sequence's training block length from it. */
  public record Options(int steps, LearningRate lr, double clip, double beta1, double beta2, double eps,
      double weightDecay, int valEvery, int valSequences, int checkpointEvery, long seed, int[] blockLengths) {
    public Options {
      if (steps < 1) throw new IllegalArgumentException("--steps must be >= 1, got " + steps);
      if (valEvery < 1 || checkpointEvery < 1) throw new IllegalArgumentException("intervals must be >= 1");
      if (blockLengths == null || blockLengths.length == 0) blockLengths = new int[] {2};
      for (int g : blockLengths) if (g < 1) throw new IllegalArgumentException("block lengths must be >= 1, got " + g);
    }
  }

  /** The summary of a finished stage. */
  public record Summary(long steps, long tokens, double elapsedSeconds, double finalLoss, double valLoss) {}

  private final Path dir;
  private final String label;
  private final LanguageModelStep step;
  private final PackedSequences train;
  private final PackedSequences validation;
  private final Options o;
  private Progress progress;
  private Long stopAfter;  // tests: stop (as if killed) after this many updates in this session
  private Runnable afterValidation = () -> {};
  private java.util.Map<String, String> runArguments = java.util.Map.of();

  public Trainer(Path dir, String label, LanguageModelStep step, PackedSequences train, PackedSequences validation,
      Options options) {
    this.dir = dir;
    this.label = label;
    this.step = step;
    this.train = train;
    this.validation = validation;
    this.o = options;
    if (train.seqLen() != step.activations().seqLen()) throw new IllegalArgumentException("sequence lengths differ");
    if (train.count() < step.activations().batch()) {
      throw new IllegalArgumentException("the training text has " + train.count() + " sequences of "
          + train.seqLen() + " tokens, fewer than one batch of " + step.activations().batch()
          + "; give more text or a smaller --batch / --seq-len");
    }
  }

  public Trainer progress(Progress p) {
    this.progress = p;
    return this;
  }

  /** Called after every validation measurement (e.g. to redraw the loss plot). */
  public Trainer afterValidation(Runnable r) {
    this.afterValidation = r;
    return this;
  }

  /**
   * The arguments that define this run (option name to value, e.g. "--seq-len" to "256"): stored with
   * every checkpoint, and a resume (or a rerun of a finished stage) with any other value is refused,
   * naming the argument, instead of silently mixing two runs.
   */
  public Trainer runArguments(java.util.Map<String, String> args) {
    this.runArguments = new java.util.LinkedHashMap<>(args);
    return this;
  }

  private void requireSameRunArguments(Path ckpt) throws IOException {
    java.util.Map<String, String> stored = Checkpoint.runArguments(ckpt);
    if (stored == null || runArguments.isEmpty()) return; // an older checkpoint: nothing to compare
    java.util.Set<String> keys = new java.util.LinkedHashSet<>(stored.keySet());
    keys.addAll(runArguments.keySet());
    for (String key : keys) {
      String then = stored.get(key), now = runArguments.get(key);
      if (!java.util.Objects.equals(then, now)) {
        throw new IllegalArgumentException(label + ": the run in " + dir + " was made with " + key + " " + then
            + ", this command gives " + now + "; give the run's own arguments to continue it, or choose another --run");
      }
    }
  }

  /** For tests: return after this many updates in this session, leaving the checkpoint as a kill would. */
  Trainer stopAfter(long updates) {
    this.stopAfter = updates;
    return this;
  }

  public static boolean isDone(Path dir) {
    return Files.isRegularFile(dir.resolve(DONE_FILE));
  }

  public static Summary readSummary(Path dir) throws IOException {
    var n = JSON.readTree(dir.resolve(DONE_FILE).toFile());
    return new Summary(n.path("steps").asLong(), n.path("tokens").asLong(), n.path("elapsed_seconds").asDouble(),
        n.path("final_loss").asDouble(), n.path("val_loss").asDouble(Double.NaN));
  }

  /**
   * Runs (or resumes) the stage. Without {@code resume}, a directory that already holds a checkpoint is
   * refused, so a finished or running experiment is never overwritten by accident.
   */
  public Summary run(boolean resume) throws IOException {
    Path ckpt = dir.resolve(Checkpoint.FILE);
    if (isDone(dir)) {
      requireSameRunArguments(ckpt);
      Checkpoint.read(ckpt, step.student.params(), null);
      return readSummary(dir);
    }
    Files.createDirectories(dir);
    AdamW optimizer = new AdamW(step.student.params(), o.beta1(), o.beta2(), o.eps(), o.weightDecay());
    Checkpoint.State state;
    if (Files.isRegularFile(ckpt)) {
      if (!resume) {
        throw new IllegalArgumentException(dir + " holds a checkpoint of an earlier run: pass --resume to continue it,"
            + " or choose another --run directory");
      }
      requireSameRunArguments(ckpt);
      state = Checkpoint.read(ckpt, step.student.params(), optimizer);
      message(String.format("%s: resuming at update %d (%,d tokens seen)", label, state.step(), state.tokens()));
    } else {
      state = new Checkpoint.State(0, 0, o.seed() ^ 0x5DEECE66DL, 0, 0);
    }
    TrainLog log = new TrainLog(dir);
    log.truncateAfter(state.step());
    if (progress == null) progress = Progress.stderr(label, o.steps());

    var a = step.activations();
    int batch = a.batch(), rows = a.rows();
    long stepIndex = state.step(), cursor = state.cursor(), rng = state.rng(), tokens = state.tokens();
    double elapsedBefore = state.elapsedSeconds();
    long sessionStart = System.nanoTime();
    long sessionTokens = 0, sessionUpdates = 0;
    LanguageModelStep.Losses losses = null;
    double lastVal = Double.NaN;
    EtaEstimate etaEstimate = new EtaEstimate(o.steps(), o.valEvery());
    while (stepIndex < o.steps()) {
      if (stopAfter != null && sessionUpdates >= stopAfter) return null;
      long updateStart = System.nanoTime();
      cursor = train.fill(cursor, batch, step.inputs(), step.targets());
      for (int b = 0; b < batch; b++) {
        rng = splitMix(rng);
        step.gammas()[b] = o.blockLengths()[(int) Long.remainderUnsigned(mix(rng), o.blockLengths().length)];
      }
      losses = step.run(true);
      double lr = o.lr().at(stepIndex);
      double norm = optimizer.update(step.pool(), lr, o.clip());
      stepIndex++;
      sessionUpdates++;
      etaEstimate.update((System.nanoTime() - updateStart) / 1e9);
      tokens += rows;
      sessionTokens += rows;
      double sessionSeconds = (System.nanoTime() - sessionStart) / 1e9;
      double tokensPerSecond = sessionTokens / Math.max(1e-9, sessionSeconds);
      double val = Double.NaN;
      if (stepIndex % o.valEvery() == 0 || stepIndex == o.steps()) {
        long validationStart = System.nanoTime();
        val = validationLoss();
        lastVal = val;
        etaEstimate.validation((System.nanoTime() - validationStart) / 1e9);
      }
      double elapsed = elapsedBefore + (System.nanoTime() - sessionStart) / 1e9;
      log.append(new TrainLog.Row(stepIndex, tokens, lr, losses.loss(), losses.hard(), losses.soft(), norm,
          tokensPerSecond, elapsed, val));
      if (!Double.isNaN(val)) afterValidation.run();
      double eta = etaEstimate.seconds(stepIndex);
      progress.update(stepIndex, losses.loss(), lastVal, tokensPerSecond, eta, lr);
      if (stepIndex % o.checkpointEvery() == 0 || stepIndex == o.steps()) {
        Checkpoint.write(ckpt, step.student.params(), optimizer,
            new Checkpoint.State(stepIndex, cursor, rng, tokens, elapsed), runArguments);
      }
    }
    double elapsed = elapsedBefore + (System.nanoTime() - sessionStart) / 1e9;
    if (Double.isNaN(lastVal)) lastVal = validationLoss();
    Summary summary = new Summary(stepIndex, tokens, elapsed, losses == null ? Double.NaN : losses.loss(), lastVal);
    ObjectNode n = JSON.createObjectNode();
    n.put("steps", summary.steps());
    n.put("tokens", summary.tokens());
    n.put("elapsed_seconds", summary.elapsedSeconds());
    n.put("final_loss", summary.finalLoss());
    n.put("val_loss", summary.valLoss());
    AtomicFiles.writeString(dir.resolve(DONE_FILE), JSON.writerWithDefaultPrettyPrinter().writeValueAsString(n) + "\n");
    return summary;
  }

  /** Mean ground-truth cross-entropy of the student over the first validation sequences (in order). */
  public double validationLoss() {
    return evaluate(step, validation, o.valSequences(), o.blockLengths()[0]);
  }

  /**
   * Mean ground-truth cross-entropy over the first {@code maxSequences} sequences of {@code data}, in
   * batches of the step's shape (a short last batch is padded with uncounted rows).
   */
  public static double evaluate(LanguageModelStep step, PackedSequences data, int maxSequences, int blockLength) {
    var a = step.activations();
    int batch = a.batch(), seqLen = a.seqLen();
    int n = Math.min(maxSequences, data.count());
    if (n == 0) return Double.NaN;
    double total = 0;
    long counted = 0;
    for (int start = 0; start < n; start += batch) {
      int used = Math.min(batch, n - start);
      for (int b = 0; b < batch; b++) {
        if (b < used) {
          data.copy(start + b, step.inputs(), step.targets(), b * seqLen);
        } else {
          java.util.Arrays.fill(step.inputs(), b * seqLen, (b + 1) * seqLen, 0);
          java.util.Arrays.fill(step.targets(), b * seqLen, (b + 1) * seqLen, -1);
        }
        step.gammas()[b] = blockLength;
      }
      LanguageModelStep.Losses l = step.run(false);
      total += l.hard() * l.rows();
      counted += l.rows();
    }
    return total / counted;
  }

  private void message(String text) {
    if (progress != null) progress.message(text);
    else System.err.println(text);
  }

  /** SplitMix64 state advance. */
  static long splitMix(long state) {
    return state + 0x9E3779B97F4A7C15L;
  }

  /** SplitMix64 output of a state. */
  static long mix(long z) {
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    return z ^ (z >>> 31);
  }
}
