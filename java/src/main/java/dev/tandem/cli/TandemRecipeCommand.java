package dev.tandem.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tandem.model.LlamaConfig;
import dev.tandem.model.ModelWeights;
import dev.tandem.secondary.PrimaryFingerprint;
import dev.tandem.secondary.TandemConfig;
import dev.tandem.secondary.TandemWeights;
import dev.tandem.train.RecipeRun;
import dev.tandem.train.TrainModel;
import dev.tandem.train.Trainer;
import java.nio.file.Path;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * The tandem recipes: a secondary with projections T_j (initialised randomly) reading the frozen
 * primary's residual streams, trained with the two-source attention of block length gamma (default 2).
 */
abstract class TandemRecipeCommand extends SecondaryRecipeCommand {
  @Mixin TrainOptions.ShapeOpts shape;

  @Option(names = "--block-length", split = ",", defaultValue = "2",
      description = "Training block length gamma (default: 2); a list (e.g. 2,3,4) draws one per sequence.")
  int[] blockLengths;

  @Option(names = "--init-decoder", description = "Start the secondary's decoder from this plain model (e.g. the"
      + " drafter, like a pretrained small model); the projections are still initialised randomly.")
  Path initDecoder;

  @Option(names = "--layer-map", split = ",",
      description = "Primary layer read by each secondary layer (default: floor((j+1) L_P / L_S)).")
  int[] layerMap;

  /** Stage 1 (cross-entropy) and, for tandem-distil, stage 2; returns the trained model. */
  void train(double defaultLr, Path init, int ceSteps, int distilSteps, float softWeight) throws Exception {
    RecipeRun.Loop loop = loopOpts.loop(defaultLr, blockLengths);
    try (RecipeRun run = open(defaultLr, blockLengths)) {
      LlamaConfig p = primaryWeights.config();
      PrimaryFingerprint fingerprint = PrimaryFingerprint.of(p, vocabularyHash(run));
      TandemConfig config;
      TrainModel model;
      ObjectNode training;
      if (init != null) {
        TandemWeights w = TandemWeights.load(init);
        w.config().primary().requireMatches(fingerprint, "the secondary " + init);
        config = new TandemConfig(w.config().secondary().withDtype("float32"), w.config().layerMap(), blockLengths[0],
            fingerprint);
        model = TrainModel.tandem(w);
        training = run.trainingJson(recipe(), commandLine(), model);
        training.put("init", init.toString());
      } else {
        LlamaConfig s = shape.config(p.vocabSize(), dataOpts.seqLen, 128, 2, 2, 384);
        int[] map = layerMap != null ? layerMap : TandemConfig.defaultLayerMap(s.numHiddenLayers(), p.numHiddenLayers());
        TandemWeights w = RecipeRun.initialTandem(s, p, fingerprint.vocabulary(), map, blockLengths[0], loop.seed());
        if (initDecoder != null) {
          ModelWeights decoder = ModelWeights.load(initDecoder);
          LlamaConfig dc = decoder.config().withDtype("float32");
          if (dc.vocabSize() != p.vocabSize()) {
            throw new IllegalArgumentException(initDecoder + " has a vocabulary of " + dc.vocabSize() + ", the primary "
                + p.vocabSize());
          }
          map = layerMap != null ? layerMap : TandemConfig.defaultLayerMap(dc.numHiddenLayers(), p.numHiddenLayers());
          TandemWeights shaped = RecipeRun.initialTandem(dc, p, fingerprint.vocabulary(), map, blockLengths[0],
              loop.seed());
          w = new TandemWeights(shaped.config(), new ModelWeights(dc, decoder.tensors()), shaped.projections());
        }
        config = w.config();
        model = TrainModel.tandem(w);
        training = run.trainingJson(recipe(), commandLine(), model);
        if (initDecoder != null) training.put("init_decoder", initDecoder.toString());
      }
      training.put("block_lengths", java.util.Arrays.toString(blockLengths));
      if (ceSteps > 0) {
        Trainer.Summary s1 = run.stage("ce", model, primary, 1f, 0f, loop, ceSteps, runOpts.resume);
        RecipeRun.addStage(training, "ce", s1, loop, ceSteps, 1f, 0f);
      }
      if (distilSteps > 0) {
        Trainer.Summary s2 = run.stage("distil", model, primary, 1 - softWeight, softWeight, loop, distilSteps,
            runOpts.resume);
        RecipeRun.addStage(training, "distil", s2, loop, distilSteps, 1 - softWeight, softWeight);
      }
      run.saveTandem(model, config, runOpts.out, training);
    }
  }
}
