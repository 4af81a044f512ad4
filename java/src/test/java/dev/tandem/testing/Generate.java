package dev.tandem.testing;

import dev.tandem.backend.Backend;
import dev.tandem.engine.Engine;
import dev.tandem.engine.EngineBuilder;
import dev.tandem.engine.GenerationRequest;
import dev.tandem.engine.GenerationResult;
import dev.tandem.engine.TokenListener;
import dev.tandem.model.ModelWeights;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.List;

/** One request through an engine of the primary alone (plain decoding). */
public final class Generate {
  private Generate() {}

  public static GenerationResult alone(ModelWeights weights, Backend backend, int context, int prefillRows,
      GenerationRequest request) {
    try (Engine engine = EngineBuilder.primary(weights, null).backend(backend).context(context)
        .prefillBudget(prefillRows).build()) {
      return engine.generateAll(List.of(request), TokenListener.NONE).getFirst();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
