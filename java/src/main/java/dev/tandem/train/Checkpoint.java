package dev.tandem.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tandem.io.DType;
import dev.tandem.io.SafetensorsFile;
import dev.tandem.io.SafetensorsWriter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * A training checkpoint: one safetensors file with every parameter ({@code param/NAME}), the AdamW
 * moments ({@code adam_m/NAME}, {@code adam_v/NAME}), all F32, and the loop's state as JSON in the
 * metadata entry {@code "train_state"}: updates done, the data cursor, the random generator's state,
 * tokens seen, elapsed seconds. Written to a temporary file, flushed and renamed over the old one
 * ({@link SafetensorsWriter#write}), so the file on disk is always a complete checkpoint: a run killed
 * at any moment resumes from the last one written.
 */
public final class Checkpoint {
  public static final String FILE = "checkpoint.safetensors";
  private static final ObjectMapper JSON = new ObjectMapper();

  /** The loop's state besides the tensors. */
  public record State(long step, long cursor, long rng, long tokens, double elapsedSeconds) {}

  private Checkpoint() {}

  public static void write(Path file, List<Param> params, AdamW optimizer, State state) throws IOException {
    write(file, params, optimizer, state, java.util.Map.of());
  }

  /**
   * {@code runArguments}: what defines the run (data, sequence length, updates, optimiser settings, seed),
   * as option name to value, kept in the metadata entry {@code "run_arguments"} so that a resume with
   * other arguments is refused ({@link #runArguments}).
   */
  public static void write(Path file, List<Param> params, AdamW optimizer, State state,
      java.util.Map<String, String> runArguments) throws IOException {
    SafetensorsWriter w = new SafetensorsWriter();
    if (!runArguments.isEmpty()) w.putMetadata("run_arguments", JSON.writeValueAsString(runArguments));
    ObjectNode s = JSON.createObjectNode();
    s.put("step", state.step());
    s.put("cursor", state.cursor());
    s.put("rng", state.rng());
    s.put("tokens", state.tokens());
    s.put("elapsed_seconds", state.elapsedSeconds());
    s.put("optimizer_step", optimizer == null ? 0 : optimizer.step);
    w.putMetadata("train_state", JSON.writeValueAsString(s));
    for (int i = 0; i < params.size(); i++) {
      Param p = params.get(i);
      w.add("param/" + p.name, DType.F32, p.shape(), p.value);
      if (optimizer != null) {
        w.add("adam_m/" + p.name, DType.F32, p.shape(), optimizer.m[i]);
        w.add("adam_v/" + p.name, DType.F32, p.shape(), optimizer.v[i]);
      }
    }
    Files.createDirectories(file.toAbsolutePath().getParent());
    w.write(file);
  }

  private static void load(SafetensorsFile f, String name, Param p, float[] dst) throws IOException {
    float[] values = f.readFloats(name, p.shape());
    System.arraycopy(values, 0, dst, 0, values.length);
  }

  /** The run arguments stored with the checkpoint, in order; null for a checkpoint written without them. */
  public static java.util.Map<String, String> runArguments(Path file) throws IOException {
    try (SafetensorsFile f = SafetensorsFile.open(file)) {
      String json = f.metadata().get("run_arguments");
      if (json == null) return null;
      java.util.Map<String, String> args = new java.util.LinkedHashMap<>();
      JSON.readTree(json).properties().forEach(e -> args.put(e.getKey(), e.getValue().asText()));
      return args;
    }
  }

  /** Loads parameters (and moments, when {@code optimizer} is given) in place; returns the state. */
  public static State read(Path file, List<Param> params, AdamW optimizer) throws IOException {
    try (SafetensorsFile f = SafetensorsFile.open(file)) {
      for (int i = 0; i < params.size(); i++) {
        Param p = params.get(i);
        load(f, "param/" + p.name, p, p.value);
        if (optimizer != null) {
          load(f, "adam_m/" + p.name, p, optimizer.m[i]);
          load(f, "adam_v/" + p.name, p, optimizer.v[i]);
        }
      }
      String json = f.metadata().get("train_state");
      if (json == null) throw new IOException(file + ": not a training checkpoint (no train_state)");
      var s = JSON.readTree(json);
      if (optimizer != null) optimizer.step = s.path("optimizer_step").asLong();
      return new State(s.path("step").asLong(), s.path("cursor").asLong(), s.path("rng").asLong(),
          s.path("tokens").asLong(), s.path("elapsed_seconds").asDouble());
    }
  }
}
