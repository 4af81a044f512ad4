package dev.tandem.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tandem.backend.cpu.WorkerPool;
import dev.tandem.io.DType;
import dev.tandem.model.LlamaConfig;
import dev.tandem.model.ModelWeights;
import dev.tandem.model.TensorNames;
import dev.tandem.secondary.PrimaryFingerprint;
import dev.tandem.secondary.TandemConfig;
import dev.tandem.secondary.TandemWeights;
import dev.tandem.tokenizer.Tokenizer;
import dev.tandem.tokenizer.TokenizerJson;
import dev.tandem.train.data.PackedSequences;
import dev.tandem.train.data.TextSplit;
import dev.tandem.train.data.TokenData;
import dev.tandem.util.AtomicFiles;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * What every recipe shares: the run directory, the data (split, tokenized, packed), the thread pool,
 * running a stage with {@link Trainer}, the loss plot, and writing the finished model (BF16 safetensors,
 * config.json, tokenizer.json, training.json with the recipe's settings and results).
 *
 * <p>Layout of a run directory: {@code data/} (token cache), one directory per stage (checkpoint,
 * log.csv, done.json), {@code loss.png} (all stages).
 */
public final class RecipeRun implements AutoCloseable {
  private static final ObjectMapper JSON = new ObjectMapper();

  /** Where the text comes from and how it is cut. */
  public record Data(List<Path> files, Path tokenizer, int segmentBytes, double validationFraction, int seqLen,
      List<Path> validationFiles) {
    public Data {
      validationFiles = validationFiles == null ? List.of() : List.copyOf(validationFiles);
    }

    /** Held-out segments chosen by hash (no held-out files). */
    public Data(List<Path> files, Path tokenizer, int segmentBytes, double validationFraction, int seqLen) {
      this(files, tokenizer, segmentBytes, validationFraction, seqLen, List.of());
    }

    public TextSplit split() throws IOException {
      return validationFiles.isEmpty() ? TextSplit.of(files, segmentBytes, validationFraction)
          : TextSplit.byFile(files, validationFiles, segmentBytes);
    }
  }

  /** The loop's settings (see {@link Trainer.Options}). */
  public record Loop(int steps, int batch, double lr, double minLr, int warmup, double weightDecay, double clip,
      int valEvery, int valSequences, int checkpointEvery, long seed, int[] blockLengths) {
    public Trainer.Options options(int steps) {
      if (steps < 1) throw new IllegalArgumentException("--steps must be >= 1, got " + steps);
      if (warmup < 0) throw new IllegalArgumentException("--warmup must be >= 0, got " + warmup);
      return new Trainer.Options(steps, new LearningRate(lr, minLr, Math.min(warmup, steps), steps), clip, 0.9, 0.95,
          1e-8, weightDecay, valEvery, valSequences, checkpointEvery, seed, blockLengths);
    }
  }

  public final Path runDir;
  public final Data data;
  public final Tokenizer tokenizer;
  public final TextSplit split;
  public final TokenData tokens;
  public final WorkerPool pool;
  public final Gemm gemm;
  private final List<String> stageNames = new ArrayList<>();
  private final long started = System.nanoTime();

  public RecipeRun(Path runDir, Data data, int threads) throws IOException {
    this(runDir, null, data, threads);
  }

  /**
   * Opens the run directory, and, before any training, checks that {@code out} (the model directory the
   * run will write; null for none) does not hold anything yet and can be written.
   */
  public RecipeRun(Path runDir, Path out, Data data, int threads) throws IOException {
    this.runDir = runDir;
    this.data = data;
    if (out != null) checkOutput(out);
    if (Files.exists(runDir) && !Files.isDirectory(runDir)) {
      throw new IllegalArgumentException("--run " + runDir + " is a file, not a directory");
    }
    try {
      Files.createDirectories(runDir);
    } catch (IOException e) {
      throw new IOException("cannot create the run directory " + runDir + ": " + AtomicFiles.reason(e), e);
    }
    if (!Files.isRegularFile(data.tokenizer())) throw new IOException("tokenizer not found: " + data.tokenizer());
    this.tokenizer = TokenizerJson.load(data.tokenizer());
    this.split = data.split();
    if (split.segments().isEmpty()) {
      throw new IllegalArgumentException("the training text is empty: " + data.files().stream().map(Path::toString)
          .collect(java.util.stream.Collectors.joining(", ")));
    }
    long notText = 0, total = 0;
    for (Path f : data.files()) {
      byte[] bytes = TextSplit.read(f);
      total += bytes.length;
      notText += TextSplit.nonTextBytes(bytes);
    }
    if (notText > 0) {
      System.err.printf(Locale.ROOT, "warning: %,d of %,d bytes of the training text are not text (invalid UTF-8 or"
          + " control characters other than tab and newlines); they are trained on as they are%n", notText, total);
    }
    this.tokens = TokenData.of(split, tokenizer, runDir.resolve("data"));
    this.pool = new WorkerPool(threads > 0 ? threads : Runtime.getRuntime().availableProcessors());
    this.gemm = new Gemm(pool);
    System.err.printf(Locale.ROOT, "data: %d files, %,d training tokens, %,d validation tokens (%.1f%% of %d"
        + " segments held out), vocabulary %d%n", data.files().size(), tokens.train().length,
        tokens.validation().length, 100.0 * split.side(true).size() / split.segments().size(),
        split.segments().size(), tokenizer.vocabSize());
  }

  public PackedSequences trainSequences(long seed) {
    return new PackedSequences(tokens.train(), data.seqLen(), seed);
  }

  public PackedSequences validationSequences() {
    return new PackedSequences(tokens.validation(), data.seqLen(), 0);
  }

  /** Runs (or resumes, or skips when done) one stage in {@code runDir/name}, then redraws the plot. */
  public Trainer.Summary stage(String name, TrainModel student, TrainModel primary, float hardWeight,
      float softWeight, Loop loop, int steps, boolean resume) throws IOException {
    stageNames.add(name);
    Path dir = runDir.resolve(name);
    LanguageModelStep step = new LanguageModelStep(gemm, student, primary, hardWeight, softWeight, loop.batch(),
        data.seqLen(), true);
    Trainer trainer = new Trainer(dir, name, step, trainSequences(loop.seed()), validationSequences(),
        loop.options(steps)).runArguments(runArguments(loop, steps, hardWeight, softWeight)).afterValidation(() -> {
          try {
            plot();
          } catch (IOException | RuntimeException e) {
            System.err.println("could not draw the loss plot: " + e.getMessage());
          }
        });
    if (!Trainer.isDone(dir)) {
      System.err.printf(Locale.ROOT, "%s: %,d parameters, %d updates of %d x %d tokens, %,d training FLOPs per"
          + " token%s%n", name, student.parameterCount(), steps, loop.batch(), data.seqLen(),
          FlopCount.trainingPerToken(student.config, data.seqLen(), student.primaryHidden)
              + (primary == null ? 0 : FlopCount.forwardPerToken(primary.config, data.seqLen())),
          primary == null ? "" : " (primary forward included)");
    }
    Trainer.Summary summary = trainer.run(resume);
    plot();
    return summary;
  }

  /**
   * What defines a stage's run: the text (the sha256 of the split, which covers the files' bytes,
   * --segment-bytes and --val-fraction, wherever the files are), the tokenizer's bytes, --seq-len, --steps and the
   * optimiser's settings, the seed, the block lengths and the loss weights. Settings that only change
   * reporting (--val-every, --checkpoint-every, --threads) may differ on a resume.
   */
  private java.util.Map<String, String> runArguments(Loop loop, int steps, float hardWeight, float softWeight)
      throws IOException {
    java.util.Map<String, String> a = new java.util.LinkedHashMap<>();
    a.put("text files (sha256 of their split)", split.fingerprint());
    a.put("--tokenizer (sha256)", PrimaryFingerprint.sha256(Files.readAllBytes(data.tokenizer())));
    a.put("--seq-len", Integer.toString(data.seqLen()));
    a.put("--steps", Integer.toString(steps));
    a.put("--batch", Integer.toString(loop.batch()));
    a.put("--lr", Double.toString(loop.lr()));
    a.put("--min-lr", Double.toString(loop.minLr()));
    a.put("--warmup", Integer.toString(loop.warmup()));
    a.put("--weight-decay", Double.toString(loop.weightDecay()));
    a.put("--clip", Double.toString(loop.clip()));
    a.put("--seed", Long.toString(loop.seed()));
    a.put("block lengths", java.util.Arrays.toString(loop.blockLengths()));
    a.put("loss weights (hard, soft)", hardWeight + ", " + softWeight);
    return a;
  }

  /** Redraws {@code loss.png} from the logs of the stages run so far. */
  public void plot() throws IOException {
    List<LossPlot.Stage> stages = new ArrayList<>();
    for (String s : stageNames) stages.add(new LossPlot.Stage(s, TrainLog.read(runDir.resolve(s).resolve(TrainLog.FILE))));
    try {
      LossPlot.write(runDir.resolve("loss.png"), runDir.getFileName() + ": training and validation loss", stages);
    } catch (NoClassDefFoundError e) {  // a runtime without java.desktop (a jlink'ed one): the CSV log has it all
      if (!plotSkipNoted) System.err.println("loss plot skipped: this Java runtime has no java.desktop module ("
          + e.getMessage() + "); the losses are in " + TrainLog.FILE);
      plotSkipNoted = true;
    }
  }

  private boolean plotSkipNoted;

  /** A new plain model: N(0, 0.02) matrices, residual output projections scaled by 1/sqrt(2 L), unit norms. */
  public static ModelWeights initialWeights(LlamaConfig c, long seed) {
    ModelWeights w = ModelWeights.random(c, seed, 0.02);
    float scale = (float) (1 / Math.sqrt(2.0 * c.numHiddenLayers()));
    for (int l = 0; l < c.numHiddenLayers(); l++) {
      for (String name : new String[] {TensorNames.output(l), TensorNames.down(l)}) {
        float[] t = w.get(name);
        for (int i = 0; i < t.length; i++) t[i] *= scale;
      }
    }
    return w;
  }

  /** A new tandem secondary for this primary: decoder as {@link #initialWeights}, random projections. */
  public static TandemWeights initialTandem(LlamaConfig secondary, LlamaConfig primary, String vocabularyHash,
      int[] layerMap, int blockLength, long seed) {
    TandemConfig tc = new TandemConfig(secondary, layerMap, blockLength, PrimaryFingerprint.of(primary,
        vocabularyHash));
    TandemWeights random = TandemWeights.random(tc, seed, 0.02);
    return new TandemWeights(tc, initialWeights(secondary, seed), random.projections());
  }

  /**
   * Refuses an output directory that already holds something (a model is never overwritten) or that
   * cannot be written (checked by creating and removing a temporary beside it), so that a run does not
   * train for hours and only then fail.
   */
  public static void checkOutput(Path out) throws IOException {
    if (Files.exists(out)) {
      if (!Files.isDirectory(out)) throw new IllegalArgumentException("--out " + out + " is a file; choose another --out");
      boolean model = Files.exists(out.resolve(ModelWeights.CONFIG_FILE))
          || dev.tandem.io.SafetensorsShards.present(out);
      try (var s = Files.list(out)) {
        if (s.findAny().isPresent()) {
          throw new IllegalArgumentException("--out " + out + (model ? " already holds a model" : " is a directory that"
              + " is not empty") + "; choose another --out or remove it first");
        }
      }
    }
    Files.delete(AtomicFiles.temporaryFor(out, true));
  }

  /** Saves a plain model (BF16), the tokenizer and training.json into {@code out}, renamed into place when complete. */
  public void savePlain(TrainModel model, Path out, ObjectNode training) throws IOException {
    AtomicFiles.writeDirectory(out, tmp -> {
      model.toModelWeights().save(tmp, DType.BF16);
      finishOutput(tmp, training);
    });
    System.err.println("wrote " + out);
  }

  /** Saves a tandem secondary (BF16), the tokenizer and training.json into {@code out}, renamed into place when complete. */
  public void saveTandem(TrainModel model, TandemConfig config, Path out, ObjectNode training) throws IOException {
    AtomicFiles.writeDirectory(out, tmp -> {
      model.toTandemWeights(config).save(tmp, DType.BF16);
      finishOutput(tmp, training);
    });
    System.err.println("wrote " + out);
  }

  private void finishOutput(Path out, ObjectNode training) throws IOException {
    Files.copy(data.tokenizer(), out.resolve("tokenizer.json"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    AtomicFiles.writeString(out.resolve("training.json"),
        JSON.writerWithDefaultPrettyPrinter().writeValueAsString(training) + "\n");
    if (Files.isRegularFile(runDir.resolve("loss.png"))) {
      Files.copy(runDir.resolve("loss.png"), out.resolve("loss.png"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    }
  }

  /** The common part of training.json: recipe, command line, data, stages. */
  public ObjectNode trainingJson(String recipe, String commandLine, TrainModel model) {
    ObjectNode n = JSON.createObjectNode();
    n.put("recipe", recipe);
    n.put("command", commandLine);
    n.put("parameters", model.parameterCount());
    ObjectNode d = n.putObject("data");
    ArrayNode files = d.putArray("files");
    for (Path f : data.files()) files.add(f.getFileName().toString());
    if (data.validationFiles().isEmpty()) {
      d.put("split", "by chunk: segments of ~" + data.segmentBytes() + " bytes, sha256-assigned, "
          + data.validationFraction() + " held out");
    } else {
      ArrayNode held = d.putArray("validation_files");
      for (Path f : data.validationFiles()) held.add(f.getFileName().toString());
      d.put("split", "by file: the validation files are held out whole");
    }
    d.put("split_sha256", split.fingerprint());
    d.put("training_tokens", tokens.train().length);
    d.put("validation_tokens", tokens.validation().length);
    d.put("sequence_length", data.seqLen());
    n.putArray("stages");
    return n;
  }

  public static void addStage(ObjectNode training, String name, Trainer.Summary s, Loop loop, int steps,
      float hardWeight, float softWeight) {
    ObjectNode st = ((ArrayNode) training.get("stages")).addObject();
    st.put("name", name);
    st.put("updates", s.steps());
    st.put("batch", loop.batch());
    st.put("tokens", s.tokens());
    st.put("lr", loop.lr());
    st.put("min_lr", loop.minLr());
    st.put("warmup", Math.min(loop.warmup(), steps));
    st.put("weight_decay", loop.weightDecay());
    st.put("hard_weight", hardWeight);
    st.put("soft_weight", softWeight);
    st.put("wall_seconds", Math.round(s.elapsedSeconds()));
    st.put("final_train_loss", s.finalLoss());
    st.put("validation_loss", s.valLoss());
  }

  public double secondsSinceStart() {
    return (System.nanoTime() - started) / 1e9;
  }

  @Override
  public void close() {
    pool.close();
  }
}
