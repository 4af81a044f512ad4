package dev.tandem.cli;

import dev.tandem.checkpoint.LoadedModel;
import dev.tandem.checkpoint.ModelLoader;
import dev.tandem.io.DType;
import dev.tandem.model.LlamaConfig;
import dev.tandem.model.ModelWeights;
import dev.tandem.secondary.PrimaryFingerprint;
import dev.tandem.secondary.TandemConfig;
import dev.tandem.secondary.TandemWeights;
import dev.tandem.tokenizer.ByteLevelBpeTokenizer;
import dev.tandem.tokenizer.TokenizerJson;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code tandem init}: a model with random weights, for tests and benchmarks. */
@Command(name = "init", mixinStandardHelpOptions = true,
    description = "Write a model directory with random weights (N(0, 0.02^2) matrices, unit norms).")
public final class InitCommand implements Callable<Integer> {
  @Option(names = "--config", required = true, description = "A Hugging Face style config.json (LlamaConfig fields).")
  Path config;

  @Option(names = "--out", required = true, description = "Output model directory.")
  Path out;

  @Option(names = "--seed", defaultValue = "0", description = "Random seed (default: 0).")
  long seed;

  @Option(names = "--dtype", defaultValue = "F32", description = "Stored dtype: F32, BF16 or F16 (default: F32).")
  DType dtype;

  @Option(names = "--secondary-of", description = "Make a tandem secondary (random projections, default layer map)"
      + " for this primary directory; --config is then the secondary's own architecture.")
  Path secondaryOf;

  @Option(names = "--tokenizer", description = "A tokenizer.json to copy into the model directory. Default: a"
      + " byte-level tokenizer (256 byte tokens + <|endoftext|>) when vocab_size allows it.")
  Path tokenizer;

  @Override
  public Integer call() throws Exception {
    LlamaConfig c = LlamaConfig.read(config);
    if (Files.exists(out) && !Files.isDirectory(out)) {
      throw new IllegalArgumentException("--out " + out + " is a file; choose another --out");
    }
    if (Files.exists(out.resolve(ModelWeights.WEIGHTS_FILE))) {
      throw new IllegalArgumentException(out + " already holds a model; choose another --out or remove it first");
    }
    if (secondaryOf != null) {
      LoadedModel primary = ModelLoader.load(secondaryOf);
      LlamaConfig p = primary.weights().config();
      String vocabulary = primary.tokenizer() == null ? "" : PrimaryFingerprint.vocabularyHash(primary.tokenizer());
      TandemConfig tandem = new TandemConfig(c, TandemConfig.defaultLayerMap(c.numHiddenLayers(), p.numHiddenLayers()),
          2, PrimaryFingerprint.of(p, vocabulary));
      TandemWeights.random(tandem, seed, 0.02).save(out, dtype);
      if (tokenizer == null && primary.tokenizer() != null) tokenizer = secondaryOf.resolve(ModelLoader.TOKENIZER_FILE);
    } else {
      ModelWeights.random(c, seed).save(out, dtype);
    }
    if (tokenizer != null) {
      if (!Files.isRegularFile(tokenizer)) throw new IllegalArgumentException("tokenizer not found: " + tokenizer);
      Files.copy(tokenizer, out.resolve(ModelLoader.TOKENIZER_FILE), StandardCopyOption.REPLACE_EXISTING);
    } else if (c.vocabSize() >= 257) {
      TokenizerJson.save(ByteLevelBpeTokenizer.bytes(List.of("<|endoftext|>")), out.resolve(ModelLoader.TOKENIZER_FILE));
    }
    System.out.printf("wrote %s: %,d parameters (%s), seed %d%n", out, c.parameterCount(), dtype, seed);
    return 0;
  }
}
