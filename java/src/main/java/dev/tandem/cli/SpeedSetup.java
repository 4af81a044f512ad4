package dev.tandem.cli;

import dev.tandem.backend.Backend;
import dev.tandem.checkpoint.LoadedModel;
import dev.tandem.checkpoint.ModelLoader;
import dev.tandem.model.Decoder;
import dev.tandem.model.ModelWeights;
import dev.tandem.model.TensorNames;
import dev.tandem.spec.BlockLengthPolicy;
import dev.tandem.spec.DraftModelDrafter;
import dev.tandem.spec.Drafter;
import dev.tandem.spec.RouterPolicy;
import dev.tandem.spec.SpeculativeGenerator;
import dev.tandem.spec.TandemDrafter;
import dev.tandem.tandem.PrimaryFingerprint;
import dev.tandem.tandem.RouterWeights;
import dev.tandem.tandem.TandemConfig;
import dev.tandem.tandem.TandemWeights;
import dev.tandem.tokenizer.Tokenizer;
import dev.tandem.tokenizer.Vocabularies;
import dev.tandem.tokenizer.TokenizerJson;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Loads a primary and a drafter (a tandem secondary or a plain draft model) and checks that they
 * belong together: the same vocabulary, and for a secondary the primary it was trained against.
 */
final class SpeedSetup {
  final LoadedModel primary;
  final ModelWeights drafterModel;      // the drafter's decoder weights
  final TandemWeights tandem;           // null for a plain draft model
  final Tokenizer drafterTokenizer;     // may be null
  final Path drafterDir;

  private SpeedSetup(LoadedModel primary, Path drafterDir, ModelWeights drafterModel, TandemWeights tandem,
      Tokenizer drafterTokenizer) {
    this.primary = primary;
    this.drafterDir = drafterDir;
    this.drafterModel = drafterModel;
    this.tandem = tandem;
    this.drafterTokenizer = drafterTokenizer;
  }

  static SpeedSetup load(Path primaryDir, Path drafterDir) throws IOException {
    LoadedModel primary = ModelLoader.load(primaryDir);
    Path drafterConfig = drafterDir.resolve(ModelWeights.CONFIG_FILE);
    if (!Files.isDirectory(drafterDir)) throw new IOException("drafter directory not found: " + drafterDir);
    Path tokenizerFile = drafterDir.resolve(ModelLoader.TOKENIZER_FILE);
    Tokenizer drafterTokenizer = Files.isRegularFile(tokenizerFile) ? TokenizerJson.load(tokenizerFile) : null;
    SpeedSetup setup;
    if (TandemConfig.isTandem(drafterConfig)) {
      TandemWeights tandem = TandemWeights.load(drafterDir);
      String vocabulary = primary.tokenizer() == null ? "" : PrimaryFingerprint.vocabularyHash(primary.tokenizer());
      tandem.config().primary().requireMatches(PrimaryFingerprint.of(primary.weights().config(), vocabulary),
          "the tandem secondary " + drafterDir);
      setup = new SpeedSetup(primary, drafterDir, tandem.decoder(), tandem, drafterTokenizer);
    } else {
      setup = new SpeedSetup(primary, drafterDir, ModelWeights.load(drafterDir), null, drafterTokenizer);
    }
    setup.requireSameVocabulary();
    return setup;
  }

  private void requireSameVocabulary() {
    int primaryVocab = primary.weights().config().vocabSize();
    int drafterVocab = drafterModel.config().vocabSize();
    if (primaryVocab != drafterVocab) {
      throw new IllegalArgumentException("the drafter " + drafterDir + " has a vocabulary of " + drafterVocab
          + " tokens, the primary " + primary.source() + " of " + primaryVocab + ": they must share one vocabulary");
    }
    if (primary.tokenizer() != null && drafterTokenizer != null) {
      Vocabularies.requireCompatible(primary.tokenizer(), drafterTokenizer);
    }
  }

  int contextLength(Integer requested, int cap) {
    int max = Math.min(primary.weights().config().maxPositionEmbeddings(), drafterModel.config().maxPositionEmbeddings());
    if (requested == null) return Math.min(max, cap);
    if (requested <= 0 || requested > max) {
      throw new IllegalArgumentException("--context " + requested + " outside [1, " + max
          + "] (the smaller max_position_embeddings of the primary and the drafter)");
    }
    return requested;
  }

  /** The block-length policy: a fixed gamma, or the router with gamma_max and its stored rule and threshold. */
  BlockLengthPolicy policy(Integer gamma, Path routerDir, Integer gammaMax, Float threshold) throws IOException {
    return policy(gamma, routerDir, gammaMax, threshold, null);
  }

  /**
   * The block-length policy with a router rule (null: the router's stored one); a rule other than the
   * stored one needs an explicit threshold (the stored one means something else under the other rule).
   */
  BlockLengthPolicy policy(Integer gamma, Path routerDir, Integer gammaMax, Float threshold, RouterPolicy.Rule rule)
      throws IOException {
    if (routerDir == null) {
      if (gammaMax != null) throw new IllegalArgumentException("--gamma-max needs --router");
      int g = gamma == null ? 4 : gamma;
      if (g < 1 || g > 64) throw new IllegalArgumentException("--gamma must be in [1, 64], got " + g);
      return BlockLengthPolicy.fixed(g);
    }
    if (gamma != null) throw new IllegalArgumentException("give either --gamma or --router with --gamma-max, not both");
    if (threshold != null && !(threshold > 0 && threshold <= 1)) {
      throw new IllegalArgumentException("--router-threshold must be in (0, 1], got " + threshold);
    }
    int max = gammaMax == null ? 8 : gammaMax;
    if (max < 1 || max > 64) throw new IllegalArgumentException("--gamma-max must be in [1, 64], got " + max);
    RouterWeights router = RouterWeights.load(routerDir);
    RouterPolicy.Rule stored = RouterPolicy.storedRule(router.config());
    RouterPolicy.Rule use = rule == null ? stored : rule;
    if (use != stored && threshold == null) {
      throw new IllegalArgumentException("--router-rule " + use.name().toLowerCase(java.util.Locale.ROOT)
          + " needs --router-threshold: the router stores a threshold for its " + router.config().stopRule() + " rule");
    }
    if (threshold != null) router = router.withThreshold(threshold);
    return new RouterPolicy(router, drafterModel.get(TensorNames.EMBEDDING), drafterModel.config().vocabSize(),
        drafterModel.config().hiddenSize(), max, use);
  }

  /** A SPEED generator for up to {@code slots} sequences on {@code backend}. */
  SpeculativeGenerator generator(Backend backend, BlockLengthPolicy policy, int contextLength, int slots,
      int prefillRows, boolean standalone) {
    int rows = Math.max(prefillRows, slots * (policy.maxDrafts() + 1));
    Drafter drafter = tandem != null
        ? new TandemDrafter(tandem, backend, contextLength, rows, slots)
        : new DraftModelDrafter(drafterModel, backend, contextLength, Math.max(2 * slots, prefillRows), slots);
    Decoder primaryDecoder = new Decoder(primary.weights(), backend, contextLength, rows, drafter.primaryCaptureLayers());
    return new SpeculativeGenerator(primaryDecoder, drafter, policy, standalone);
  }
}
