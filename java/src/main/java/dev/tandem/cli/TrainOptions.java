package dev.tandem.cli;

import dev.tandem.model.LlamaConfig;
import dev.tandem.train.RecipeRun;
import dev.tandem.train.data.TextSplit;
import java.nio.file.Path;
import java.util.List;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** The option groups the {@code tandem train} recipes share. */
public final class TrainOptions {
  private TrainOptions() {}

  /** Text files, tokenizer, split and sequence length. */
  static final class DataOpts {
    @Parameters(arity = "1..*", paramLabel = "FILE", description = "Training text files (UTF-8; .gz accepted).")
    List<Path> files;

    @Option(names = "--tokenizer", description = "tokenizer.json (default: the primary's, for recipes that have one).")
    Path tokenizer;

    @Option(names = "--seq-len", defaultValue = "256", description = "Tokens per training sequence (default: 256).")
    int seqLen;

    @Option(names = "--segment-bytes", defaultValue = "" + TextSplit.DEFAULT_SEGMENT_BYTES,
        description = "Split unit: segments of about this many bytes (default: 8192).")
    int segmentBytes;

    @Option(names = "--val-fraction", defaultValue = "" + TextSplit.DEFAULT_VALIDATION_FRACTION,
        description = "Share of segments held out for validation (default: 0.01).")
    double valFraction;

    @Option(names = "--validation", paramLabel = "FILE", description = "Held-out text files (repeatable): the"
        + " validation side is these files whole and the training side every FILE whole (--val-fraction is not used),"
        + " e.g. a generated task's text from other seeds.")
    List<Path> validationFiles;

    RecipeRun.Data data(Path defaultTokenizer) {
      Path t = tokenizer != null ? tokenizer : defaultTokenizer;
      if (t == null) throw new IllegalArgumentException("give --tokenizer (a tokenizer.json, see `tandem train tokenizer`)");
      if (seqLen < 2) throw new IllegalArgumentException("--seq-len must be >= 2, got " + seqLen);
      return new RecipeRun.Data(files, t, segmentBytes, valFraction, seqLen, validationFiles);
    }
  }

  /** The shape of a new model. */
  static final class ShapeOpts {
    @Option(names = "--hidden", description = "Width (hidden_size).")
    Integer hidden;

    @Option(names = "--layers", description = "Layers (num_hidden_layers).")
    Integer layers;

    @Option(names = "--heads", description = "Attention heads.")
    Integer heads;

    @Option(names = "--kv-heads", description = "Key/value heads (default: --heads).")
    Integer kvHeads;

    @Option(names = "--intermediate", description = "MLP width (intermediate_size).")
    Integer intermediate;

    @Option(names = "--tie-embeddings", description = "Share the embedding table with the LM head.")
    boolean tie;

    @Option(names = "--rope-theta", defaultValue = "10000", description = "RoPE base (default: 10000).")
    double ropeTheta;

    @Option(names = "--max-positions", description = "max_position_embeddings (default: 4 x --seq-len).")
    Integer maxPositions;

    LlamaConfig config(int vocab, int seqLen, int dHidden, int dLayers, int dHeads, int dIntermediate) {
      int h = hidden != null ? hidden : dHidden;
      int heads_ = heads != null ? heads : dHeads;
      return new LlamaConfig(vocab, h, intermediate != null ? intermediate : dIntermediate,
          layers != null ? layers : dLayers, heads_, kvHeads != null ? kvHeads : heads_, ropeTheta, 1e-5,
          maxPositions != null ? maxPositions : 4 * seqLen, tie, "float32");
    }
  }

  /** The optimisation loop. */
  static final class LoopOpts {
    @Option(names = "--batch", defaultValue = "8", description = "Sequences per update (default: 8).")
    int batch;

    @Option(names = "--lr", description = "Peak learning rate (default per recipe).")
    Double lr;

    @Option(names = "--min-lr", description = "Final learning rate of the cosine decay (default: lr / 10).")
    Double minLr;

    @Option(names = "--warmup", defaultValue = "30", description = "Warm-up updates (default: 30).")
    int warmup;

    @Option(names = "--weight-decay", defaultValue = "0.1", description = "AdamW weight decay (default: 0.1).")
    double weightDecay;

    @Option(names = "--clip", defaultValue = "1.0", description = "Gradient norm clip, 0 = off (default: 1).")
    double clip;

    @Option(names = "--val-every", defaultValue = "50", description = "Validation every N updates (default: 50).")
    int valEvery;

    @Option(names = "--val-sequences", defaultValue = "32",
        description = "Validation sequences per measurement (default: 32).")
    int valSequences;

    @Option(names = "--checkpoint-every", defaultValue = "25", description = "Checkpoint every N updates (default: 25).")
    int checkpointEvery;

    @Option(names = "--seed", defaultValue = "1", description = "Seed of initialisation and data order (default: 1).")
    long seed;

    @Option(names = "--threads", defaultValue = "0", description = "CPU threads (default: all cores).",
        converter = ThreadCount.class)
    int threads;

    RecipeRun.Loop loop(double defaultLr, int[] blockLengths) {
      if (batch < 1) throw new IllegalArgumentException("--batch must be >= 1, got " + batch);
      double peak = lr != null ? lr : defaultLr;
      return new RecipeRun.Loop(0, batch, peak, minLr != null ? minLr : peak / 10, warmup, weightDecay, clip, valEvery,
          valSequences, checkpointEvery, seed, blockLengths);
    }
  }

  /** Where the run and its result live. */
  static final class RunOpts {
    @Option(names = "--run", required = true, description = "Run directory: checkpoints, logs, loss.png.")
    Path run;

    @Option(names = "--out", required = true, description = "Output model directory.")
    Path out;

    @Option(names = "--resume", description = "Continue the run in --run from its last checkpoint.")
    boolean resume;
  }

  /**
   * The command as typed, for training.json and reports: picocli's original arguments are the whole
   * command line (subcommand names included), so they follow {@code ./tandem} directly.
   */
  public static String invocation(picocli.CommandLine.Model.CommandSpec spec) {
    return "./tandem " + String.join(" ", spec.commandLine().getParseResult().originalArgs());
  }
}
