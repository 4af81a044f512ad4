package dev.tandem.speculative;

import dev.tandem.engine.Engine;
import dev.tandem.engine.EngineBuilder;
import dev.tandem.engine.GenerationRequest;
import dev.tandem.engine.GenerationResult;
import dev.tandem.engine.TokenListener;
import java.util.ArrayList;
import java.util.List;

import dev.tandem.backend.Backend;
import dev.tandem.model.Decoder;
import dev.tandem.model.LlamaConfig;
import dev.tandem.model.ModelWeights;
import dev.tandem.secondary.PrimaryFingerprint;
import dev.tandem.secondary.TandemConfig;
import dev.tandem.secondary.TandemWeights;
import java.util.SplittableRandom;

/** Small random primaries and drafters for the speculative-decoding tests. */
public final class SpeedFixtures {
  private SpeedFixtures() {}

  public static final int CONTEXT = 96;

  public static LlamaConfig primaryConfig(int vocab) {
    return new LlamaConfig(vocab, 48, 64, 3, 6, 2, 10000.0, 1e-5, CONTEXT, false, "float32");
  }

  public static LlamaConfig drafterConfig(int vocab) {
    return new LlamaConfig(vocab, 16, 32, 2, 2, 1, 10000.0, 1e-5, CONTEXT, false, "float32");
  }

  public static TandemWeights tandem(ModelWeights primary, long seed, double std) {
    LlamaConfig s = drafterConfig(primary.config().vocabSize());
    TandemConfig config = new TandemConfig(s,
        TandemConfig.defaultLayerMap(s.numHiddenLayers(), primary.config().numHiddenLayers()), 2,
        PrimaryFingerprint.of(primary.config(), ""));
    return TandemWeights.random(config, seed, std);
  }

  /** The primary's weights plus N(0, noise^2) on every matrix: a plain drafter that often agrees. */
  public static ModelWeights perturbed(ModelWeights primary, long seed, double noise) {
    java.util.Map<String, float[]> tensors = new java.util.LinkedHashMap<>();
    SplittableRandom random = new SplittableRandom(seed);
    for (var e : primary.tensors().entrySet()) {
      float[] t = e.getValue().clone();
      if (!e.getKey().endsWith("norm.weight")) {
        for (int i = 0; i < t.length; i++) t[i] += (float) (random.nextGaussian() * noise);
      }
      tensors.put(e.getKey(), t);
    }
    return new ModelWeights(primary.config(), tensors);
  }

  /**
   * A tandem secondary that is the primary itself (layer j reads the primary's input to layer j,
   * identity projections), plus noise: with noise 0 it reproduces the primary exactly, so every
   * draft is accepted; with a little noise it agrees often, exercising partial acceptance.
   */
  public static TandemWeights tandemCopy(ModelWeights primary, long seed, double noise) {
    LlamaConfig c = primary.config();
    int[] map = new int[c.numHiddenLayers()];
    for (int j = 0; j < map.length; j++) map[j] = j;
    TandemConfig config = new TandemConfig(c, map, 2, PrimaryFingerprint.of(c, ""));
    ModelWeights decoder = noise == 0 ? primary : perturbed(primary, seed, noise);
    int d = c.hiddenSize();
    SplittableRandom random = new SplittableRandom(seed + 1);
    float[][] projections = new float[map.length][d * d];
    for (float[] p : projections) {
      for (int i = 0; i < d; i++) p[i * d + i] = 1f;
      if (noise > 0) for (int i = 0; i < p.length; i++) p[i] += (float) (random.nextGaussian() * noise);
    }
    return new TandemWeights(config, decoder, projections);
  }

  /** SPEED with a fixed speculation policy (every round drafts what {@code policy} allows), {@code slots} at once. */
  public static Engine speed(ModelWeights primary, Object drafterWeights, BlockLengthPolicy policy, Backend backend,
      int slots) {
    EngineBuilder b = EngineBuilder.primary(primary, null).backend(backend).context(CONTEXT).slots(slots)
        .prefillBudget(slots * (policy.maxDrafts() + 1) + 8).blockLengths(policy).fixedSpeculation();
    if (drafterWeights instanceof TandemWeights t) b.tandem(t, "tandem");
    else b.draftModel((ModelWeights) drafterWeights, "draft model");
    return build(b);
  }

  /** The primary alone, {@code slots} at once. */
  public static Engine plain(ModelWeights primary, Backend backend, int slots) {
    return build(EngineBuilder.primary(primary, null).backend(backend).context(CONTEXT).slots(slots).prefillBudget(16));
  }

  public static Engine build(EngineBuilder b) {
    try {
      return b.build();
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  /** Runs the requests together; their counters are added to {@code totals}. */
  public static List<GenerationResult> generate(Engine engine, List<GenerationRequest> requests, SpeedMetrics totals) {
    List<GenerationResult> results = engine.generateAll(requests, TokenListener.NONE);
    for (GenerationResult r : results) totals.add(r.metrics());
    return results;
  }

  /** Each request's tokens from the primary alone. */
  public static List<int[]> primaryAlone(ModelWeights primary, Backend backend, List<GenerationRequest> requests) {
    try (Engine engine = plain(primary, backend, 1)) {
      List<int[]> out = new ArrayList<>();
      for (GenerationRequest r : requests) out.add(engine.generateAll(List.of(r), TokenListener.NONE).getFirst().tokens());
      return out;
    }
  }
}
