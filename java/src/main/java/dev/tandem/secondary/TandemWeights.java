package dev.tandem.secondary;

import dev.tandem.io.DType;
import dev.tandem.io.SafetensorsFile;
import dev.tandem.io.SafetensorsWriter;
import dev.tandem.model.ModelWeights;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * A tandem secondary's weights on the host: the Llama-style decoder's tensors plus one projection
 * per layer, {@code projections[j]} of shape [d_S][d_P] (Hugging Face Linear layout: out x in).
 */
public record TandemWeights(TandemConfig config, ModelWeights decoder, float[][] projections) {
  public TandemWeights {
    if (projections.length != config.secondary().numHiddenLayers()) {
      throw new IllegalArgumentException("expected " + config.secondary().numHiddenLayers() + " projections, got "
          + projections.length);
    }
    long size = (long) config.secondary().hiddenSize() * config.primary().hiddenSize();
    for (int j = 0; j < projections.length; j++) {
      if (projections[j].length != size) {
        throw new IllegalArgumentException("projection " + j + " has " + projections[j].length + " weights, expected "
            + size);
      }
    }
  }

  /** Random secondary weights; projections from N(0, 1/d_P) so projected states keep the primary's scale. */
  public static TandemWeights random(TandemConfig config, long seed, double std) {
    ModelWeights decoder = ModelWeights.random(config.secondary(), seed, std);
    int dS = config.secondary().hiddenSize(), dP = config.primary().hiddenSize();
    float[][] projections = new float[config.secondary().numHiddenLayers()][dS * dP];
    SplittableRandom random = new SplittableRandom(seed ^ 0x7A5DEL);
    double projectionStd = 1.0 / Math.sqrt(dP);
    for (float[] p : projections) {
      for (int i = 0; i < p.length; i++) p[i] = (float) (random.nextGaussian() * projectionStd);
    }
    return new TandemWeights(config, decoder, projections);
  }

  public static TandemWeights load(Path dir) throws IOException {
    return load(dir, dev.tandem.model.WeightPrecision.DEFAULT);
  }

  /** As {@link #load(Path)}, the decoder's matrices held as {@code precision} says (the projections in fp32). */
  public static TandemWeights load(Path dir, dev.tandem.model.WeightPrecision precision) throws IOException {
    Path configFile = dir.resolve(ModelWeights.CONFIG_FILE);
    if (!Files.isRegularFile(configFile)) throw new IOException("model directory " + dir + " has no config.json");
    TandemConfig config = TandemConfig.read(configFile);
    ModelWeights decoder = ModelWeights.load(dir, precision);
    int dS = config.secondary().hiddenSize(), dP = config.primary().hiddenSize();
    float[][] projections = new float[config.secondary().numHiddenLayers()][];
    try (SafetensorsFile file = SafetensorsFile.open(dir.resolve(ModelWeights.WEIGHTS_FILE))) {
      for (int j = 0; j < projections.length; j++) {
        projections[j] = file.readFloats(TandemConfig.projectionName(j), dS, dP);
      }
    }
    return new TandemWeights(config, decoder, projections);
  }

  /** Writes config.json (with the "tandem" section) and model.safetensors (decoder + projections). */
  public void save(Path dir, DType dtype) throws IOException {
    Files.createDirectories(dir);
    SafetensorsWriter writer = new SafetensorsWriter();
    writer.putMetadata("format", "pt");
    writer.putMetadata("tandem", "secondary");
    Map<String, long[]> shapes = new LinkedHashMap<>(ModelWeights.expectedShapes(config.secondary()));
    for (Map.Entry<String, long[]> e : shapes.entrySet()) {
      writer.add(e.getKey(), dtype, e.getValue(), decoder.get(e.getKey()));
    }
    int dS = config.secondary().hiddenSize(), dP = config.primary().hiddenSize();
    for (int j = 0; j < projections.length; j++) {
      writer.add(TandemConfig.projectionName(j), dtype, new long[] {dS, dP}, projections[j]);
    }
    writer.write(dir.resolve(ModelWeights.WEIGHTS_FILE));
    String torchDtype = ModelWeights.torchDtype(dtype);
    new TandemConfig(config.secondary().withDtype(torchDtype), config.layerMap(), config.trainingBlockLength(),
        config.primary()).write(dir.resolve(ModelWeights.CONFIG_FILE));
  }
}
