package dev.tandem.engine;

import dev.tandem.backend.Backend;
import dev.tandem.checkpoint.LoadedModel;
import dev.tandem.checkpoint.ModelLoader;
import dev.tandem.model.Decoder;
import dev.tandem.model.ModelWeights;
import dev.tandem.model.TensorNames;
import dev.tandem.speculative.BlockLengthPolicy;
import dev.tandem.speculative.DraftModelDrafter;
import dev.tandem.speculative.Drafter;
import dev.tandem.speculative.RouterPolicy;
import dev.tandem.speculative.TandemDrafter;
import dev.tandem.secondary.PrimaryFingerprint;
import dev.tandem.secondary.RouterWeights;
import dev.tandem.secondary.TandemConfig;
import dev.tandem.secondary.TandemWeights;
import dev.tandem.tokenizer.Tokenizer;
import dev.tandem.tokenizer.TokenizerJson;
import dev.tandem.tokenizer.Vocabularies;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/**
 * Builds an {@link Engine}: loads the primary and the drafter (a tandem secondary, a plain draft
 * model as a directory or GGUF file, or none), checks that they belong together (one vocabulary,
 * and for a secondary the primary it was trained against), sizes rows per pass and caches, and
 * builds the block-length policy (fixed gamma or the router) and the speculation policy (with its
 * cost model, measured on the loaded models unless given).
 */
public final class EngineBuilder {
  /** Default prompt tokens per step (the chunk a long prompt is prefilled in). */
  public static final int DEFAULT_PREFILL_BUDGET = 128;
  /** Default context cap when none is asked for. */
  public static final int DEFAULT_CONTEXT_CAP = 4096;

  private final ModelWeights primary;
  private final Tokenizer tokenizer;
  private final String primaryName;
  private ModelWeights drafterModel;      // the drafter's decoder weights (plain or tandem)
  private TandemWeights tandem;           // null for a plain draft model
  private String drafterName;
  private Backend backend;
  private Integer gamma;
  private Path routerDir;
  private Integer gammaMax;
  private Float routerThreshold;
  private RouterPolicy.Rule routerRule;
  private BlockLengthPolicy blockLengths;
  private Integer context;
  private int slots = 1;
  private int prefillBudget = DEFAULT_PREFILL_BUDGET;
  private Integer kvCapacity;
  private int maxWaiting = 1 << 16;
  private SpeculationPolicy.Mode speculation = SpeculationPolicy.Mode.ADAPTIVE;
  private PassCosts passCosts;
  private int costRepeats = 9;
  private boolean standalone;

  private EngineBuilder(ModelWeights primary, Tokenizer tokenizer, String primaryName) {
    this.primary = primary;
    this.tokenizer = tokenizer;
    this.primaryName = primaryName;
  }

  /** An engine over a loaded primary (its tokenizer, if any, gives text and stop strings). */
  public static EngineBuilder primary(LoadedModel model) {
    return new EngineBuilder(model.weights(), model.tokenizer(), model.source().getFileName().toString());
  }

  /** An engine over primary weights in memory (tests, benchmarks); {@code tokenizer} may be null. */
  public static EngineBuilder primary(ModelWeights weights, Tokenizer tokenizer) {
    return new EngineBuilder(weights, tokenizer, "primary");
  }

  /** Loads a model directory or GGUF file as the primary. */
  public static EngineBuilder load(Path primary) throws IOException {
    return primary(ModelLoader.load(primary));
  }

  /**
   * The drafter from a directory (a tandem secondary, checked against this primary's fingerprint, or
   * a plain draft model) or a GGUF file (a plain draft model); null for none.
   */
  public EngineBuilder drafter(Path path) throws IOException {
    return drafter(path, dev.tandem.model.WeightPrecision.DEFAULT);
  }

  /** As {@link #drafter(Path)}, its weight matrices held as {@code precision} says. */
  public EngineBuilder drafter(Path path, dev.tandem.model.WeightPrecision precision) throws IOException {
    if (path == null) return this;
    Tokenizer drafterTokenizer;
    if (Files.isDirectory(path) && TandemConfig.isTandem(path.resolve(ModelWeights.CONFIG_FILE))) {
      TandemWeights t = TandemWeights.load(path, precision);
      String vocabulary = tokenizer == null ? "" : PrimaryFingerprint.vocabularyHash(tokenizer);
      t.config().primary().requireMatches(PrimaryFingerprint.of(primary.config(), vocabulary),
          "the tandem secondary " + path);
      tandem(t, path.getFileName().toString());
      Path tokenizerFile = path.resolve(ModelLoader.TOKENIZER_FILE);
      drafterTokenizer = Files.isRegularFile(tokenizerFile) ? TokenizerJson.load(tokenizerFile) : null;
    } else {
      if (!Files.exists(path)) throw new IOException("drafter not found: " + path);
      LoadedModel m = ModelLoader.load(path, precision);
      draftModel(m.weights(), path.getFileName().toString());
      drafterTokenizer = m.tokenizer();
    }
    if (tokenizer != null && drafterTokenizer != null) Vocabularies.requireCompatible(tokenizer, drafterTokenizer);
    return this;
  }

  /** A plain draft model in memory. */
  public EngineBuilder draftModel(ModelWeights weights, String name) {
    requireSameVocabulary(weights, name);
    this.drafterModel = weights;
    this.tandem = null;
    this.drafterName = name;
    return this;
  }

  /** A tandem secondary in memory. */
  public EngineBuilder tandem(TandemWeights weights, String name) {
    requireSameVocabulary(weights.decoder(), name);
    this.drafterModel = weights.decoder();
    this.tandem = weights;
    this.drafterName = name;
    return this;
  }

  private void requireSameVocabulary(ModelWeights drafter, String name) {
    int p = primary.config().vocabSize(), d = drafter.config().vocabSize();
    if (p != d) {
      throw new IllegalArgumentException("the drafter " + name + " has a vocabulary of " + d + " tokens, the primary "
          + primaryName + " of " + p + ": they must share one vocabulary");
    }
  }

  public EngineBuilder backend(Backend b) { this.backend = b; return this; }
  /** Most drafts per round with a fixed block length (default 4). */
  public EngineBuilder gamma(Integer g) { this.gamma = g; return this; }
  /** The router stops drafting (up to gammaMax drafts); threshold and rule null: the router's stored ones. */
  public EngineBuilder router(Path dir, Integer max, Float threshold, RouterPolicy.Rule rule) {
    this.routerDir = dir;
    this.gammaMax = max;
    this.routerThreshold = threshold;
    this.routerRule = rule;
    return this;
  }
  /** A block-length policy built by the caller (tests). */
  public EngineBuilder blockLengths(BlockLengthPolicy p) { this.blockLengths = p; return this; }
  /** Positions per sequence (default: max_position_embeddings, capped at 4096). */
  public EngineBuilder context(Integer c) { this.context = c; return this; }
  /** Requests that run at once (KV slots). */
  public EngineBuilder slots(int s) { this.slots = s; return this; }
  /** Prompt tokens per step. */
  public EngineBuilder prefillBudget(int t) { this.prefillBudget = t; return this; }
  /** KV positions the running requests may hold together (default slots x context). */
  public EngineBuilder kvCapacity(Integer positions) { this.kvCapacity = positions; return this; }
  /** Requests that may wait for a slot before {@link QueueFullException}. */
  public EngineBuilder maxWaiting(int n) { this.maxWaiting = n; return this; }
  /** Adaptive (cost model, default) or fixed draft counts. */
  public EngineBuilder speculation(SpeculationPolicy.Mode m) { this.speculation = m; return this; }
  /** Fixed draft counts: every round drafts the block-length policy's maximum (today's SPEED). */
  public EngineBuilder fixedSpeculation() { return speculation(SpeculationPolicy.Mode.FIXED); }
  /** A given cost model instead of measuring one at start-up. */
  public EngineBuilder passCosts(PassCosts c) { this.passCosts = c; return this; }
  /** Tandem generation as in the paper: every draft kept, the output is the tandem model's. */
  public EngineBuilder standalone(boolean on) { this.standalone = on; return this; }

  public boolean hasDrafter() { return drafterModel != null; }
  public boolean isTandem() { return tandem != null; }
  public String drafterName() { return drafterName; }
  public ModelWeights primaryWeights() { return primary; }
  public Tokenizer tokenizer() { return tokenizer; }

  /** The context length: the requested one, or the smaller max_position_embeddings capped at 4096. */
  public int contextLength() {
    int max = primary.config().maxPositionEmbeddings();
    if (drafterModel != null) max = Math.min(max, drafterModel.config().maxPositionEmbeddings());
    if (context == null) return Math.min(max, DEFAULT_CONTEXT_CAP);
    if (context <= 0 || context > max) {
      throw new IllegalArgumentException("--context " + context + " outside [1, " + max + "] (max_position_embeddings"
          + (drafterModel != null ? " of the primary and the drafter" : "") + ")");
    }
    return context;
  }

  public Engine build() throws IOException {
    if (backend == null) throw new IllegalStateException("no backend given");
    if (slots < 1 || slots > 1024) throw new IllegalArgumentException("--max-concurrency must be in [1, 1024], got " + slots);
    if (prefillBudget < 1) throw new IllegalArgumentException("the prefill budget must be >= 1 token, got " + prefillBudget);
    int ctx = contextLength();
    BlockLengthPolicy blocks = drafterModel == null ? null : blockLengthPolicy();
    int maxDrafts = blocks == null ? 0 : blocks.maxDrafts();
    int rows = Math.max(prefillBudget, slots * (maxDrafts + 1));
    Drafter drafter = null;
    if (tandem != null) drafter = new TandemDrafter(tandem, backend, ctx, rows, slots);
    else if (drafterModel != null) drafter = new DraftModelDrafter(drafterModel, backend, ctx, Math.max(2 * slots, prefillBudget), slots);
    Decoder primaryDecoder = new Decoder(primary, backend, ctx, rows, drafter == null ? new int[0] : drafter.primaryCaptureLayers());
    ModelRunner runner = new ModelRunner(primaryDecoder, drafter, blocks, slots, standalone);
    long capacity = kvCapacity == null ? (long) slots * ctx : kvCapacity;
    if (capacity < ctx) {
      runner.close();
      throw new IllegalArgumentException("the KV capacity (" + capacity + " positions) must hold at least one full context ("
          + ctx + ")");
    }
    PassCosts costs = passCosts;
    SpeculationPolicy.Mode mode = standalone ? SpeculationPolicy.Mode.FIXED : speculation;
    if (costs == null && mode == SpeculationPolicy.Mode.ADAPTIVE && drafter != null) costs = runner.measureCosts(costRepeats);
    SpeculationPolicy policy = new SpeculationPolicy(mode, maxDrafts, costs);
    Scheduler scheduler = new Scheduler(slots, (int) Math.min(capacity, Integer.MAX_VALUE), prefillBudget);
    String what = primaryName + (drafter == null ? " (plain decoding)"
        : " + " + drafterName + " (" + drafter.kind() + ", " + blocks + ", " + mode.name().toLowerCase(Locale.ROOT) + " speculation)");
    return new Engine(runner, tokenizer, policy, scheduler, maxWaiting, what);
  }

  private BlockLengthPolicy blockLengthPolicy() throws IOException {
    if (blockLengths != null) return blockLengths;
    if (routerDir == null) {
      if (gammaMax != null) throw new IllegalArgumentException("--gamma-max needs --router");
      int g = gamma == null ? 4 : gamma;
      if (g < 1 || g > 64) throw new IllegalArgumentException("--gamma must be in [1, 64], got " + g);
      return BlockLengthPolicy.fixed(g);
    }
    if (gamma != null) throw new IllegalArgumentException("give either --gamma or --router with --gamma-max, not both");
    if (routerThreshold != null && !(routerThreshold > 0 && routerThreshold <= 1)) {
      throw new IllegalArgumentException("--router-threshold must be in (0, 1], got " + routerThreshold);
    }
    int max = gammaMax == null ? 8 : gammaMax;
    if (max < 1 || max > 64) throw new IllegalArgumentException("--gamma-max must be in [1, 64], got " + max);
    RouterWeights router = RouterWeights.load(routerDir);
    RouterPolicy.Rule stored = RouterPolicy.storedRule(router.config());
    RouterPolicy.Rule use = routerRule == null ? stored : routerRule;
    if (use != stored && routerThreshold == null) {
      throw new IllegalArgumentException("--router-rule " + use.name().toLowerCase(Locale.ROOT)
          + " needs --router-threshold: the router stores a threshold for its " + router.config().stopRule() + " rule");
    }
    if (routerThreshold != null) router = router.withThreshold(routerThreshold);
    return new RouterPolicy(router, drafterModel.get(TensorNames.EMBEDDING), drafterModel.config().vocabSize(),
        drafterModel.config().hiddenSize(), max, use);
  }
}
