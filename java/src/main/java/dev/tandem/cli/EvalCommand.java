package dev.tandem.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tandem.backend.Backend;
import dev.tandem.speculative.DrafterEvaluation;
import dev.tandem.engine.Engine;
import dev.tandem.engine.EngineBuilder;
import dev.tandem.tokenizer.Tokenizer;
import dev.tandem.train.data.RecallTask;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.zip.GZIPInputStream;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code tandem eval}: the paper's Table 1 metrics of a drafter on a text file. */
@Command(name = "eval", mixinStandardHelpOptions = true,
    description = "Accuracy, cross-entropy, relative accuracy and TV distance of a secondary or drafter on text.")
public final class EvalCommand implements Callable<Integer> {
  @Option(names = "--primary", required = true, description = "The primary model directory.")
  Path primaryDir;

  @Option(names = {"--secondary", "--drafter"}, required = true, description = "A tandem secondary or plain drafter.")
  Path drafterDir;

  @Option(names = "--data", required = true, description = "Held-out text (UTF-8, .gz accepted).")
  Path data;

  @Option(names = "--block-length", defaultValue = "2", description = "Primary block length gamma (default 2).")
  int blockLength;

  @Option(names = "--window", defaultValue = "256", description = "Tokens per evaluation window (default 256; with"
      + " --recall a window is a line).")
  int window;

  @Option(names = "--max-positions", defaultValue = "20000", description = "Stop after this many positions.")
  int maxPositions;

  @Option(names = "--json", description = "Print the metrics as JSON.")
  boolean json;

  @Option(names = "--recall", description = "The data is recall text (tandem data recall): each line is one window,"
      + " and the metrics are also reported on the positions the context determines (the repeat after its first key)"
      + " and on the rest (--json: objects \"determined\" and \"rest\").")
  boolean recall;

  @Option(names = "--dump", description = "Write one JSON line per position (position, true token, argmax, log-prob).")
  Path dump;

  @Mixin DeviceOptions device;

  @Override
  public Integer call() throws Exception {
    if (blockLength < 2) throw new IllegalArgumentException("--block-length must be >= 2, got " + blockLength);
    if (window < blockLength + 1) throw new IllegalArgumentException("--window must exceed the block length");
    if (maxPositions < 1) throw new IllegalArgumentException("--max-positions must be >= 1");
    EngineBuilder setup = EngineBuilder.load(primaryDir).drafter(drafterDir).fixedSpeculation();
    Tokenizer tokenizer = setup.tokenizer();
    if (tokenizer == null) throw new IllegalArgumentException("the primary " + primaryDir + " has no tokenizer.json");
    String text = readText(data);
    List<int[]> windows = new ArrayList<>();
    if (recall) {
      for (String line : text.split("\n")) if (!line.isBlank()) windows.add(tokenizer.encode(line));
      window = Math.max(blockLength + 1, windows.stream().mapToInt(w -> w.length).max().orElse(0));
    } else {
      int[] tokens = tokenizer.encode(text);
      for (int start = 0; start + blockLength < tokens.length; start += window) {
        windows.add(Arrays.copyOfRange(tokens, start, Math.min(tokens.length, start + window)));
      }
    }
    int contextLength = setup.context(window).contextLength();
    if (window > contextLength) {
      throw new IllegalArgumentException("a line of " + data + " has " + window + " tokens, more than the context ("
          + contextLength + ")");
    }
    PositionGroup determined = new PositionGroup(), rest = new PositionGroup();
    DrafterEvaluation.Totals totals = new DrafterEvaluation.Totals();
    ObjectMapper mapper = new ObjectMapper();
    try (Backend backend = device.backend();
        Engine models = setup.backend(backend).gamma(blockLength).prefillBudget(blockLength + 1).build();
        BufferedWriter dumpWriter = dump == null ? null : Files.newBufferedWriter(dump, StandardCharsets.UTF_8)) {
      DrafterEvaluation evaluation = new DrafterEvaluation(models.primary(), models.drafter(), blockLength);
      int offset = 0;
      for (int w = 0; w < windows.size() && totals.positions < maxPositions; w++) {
        int[] part = windows.get(w);
        int windowStart = offset;
        int windowIndex = w;
        offset += part.length;
        if (part.length <= 1) continue;
        boolean[] known = recall ? RecallTask.determined(part) : null;
        evaluation.window(part, totals, p -> {
          if (known != null) (known[p.position() + 1] ? determined : rest).add(p);
          if (dumpWriter == null) return;
          ObjectNode n = mapper.createObjectNode();
          n.put("position", windowStart + p.position());
          if (recall) {
            n.put("line", windowIndex);
            n.put("determined", known[p.position() + 1]);
          }
          n.put("true_token", p.trueToken());
          n.put("argmax", p.drafterArgmax());
          n.put("log_prob_true", p.drafterLogProb());
          n.put("primary_argmax", p.primaryArgmax());
          n.put("total_variation", p.totalVariation());
          try {
            dumpWriter.write(mapper.writeValueAsString(n));
            dumpWriter.newLine();
          } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
          }
        });
        System.err.printf("\reval: %,d positions", totals.positions);
      }
      System.err.println();
    }
    if (totals.positions == 0) throw new IllegalArgumentException(data + " is too short to evaluate anything");
    if (json) {
      ObjectNode root = totals.toJson();
      root.put("primary", primaryDir.toString());
      root.put("drafter", drafterDir.toString());
      root.put("drafter_kind", setup.isTandem() ? "tandem" : "draft-model");
      root.put("block_length", blockLength);
      root.put("data", data.toString());
      if (recall) {
        root.set("determined", determined.toJson());
        root.set("rest", rest.toJson());
      }
      System.out.println(mapper.writerWithDefaultPrettyPrinter().writeValueAsString(root));
    } else {
      System.out.printf("%s on %s (%,d positions, block length %d)%n", drafterDir, data, totals.positions, blockLength);
      System.out.printf("accuracy           %.2f%%   (primary: %.2f%%)%n", 100 * totals.accuracy(),
          100 * totals.primaryAccuracy());
      System.out.printf("cross-entropy      %.4f   (primary: %.4f)%n", totals.crossEntropy(), totals.primaryCrossEntropy());
      System.out.printf("relative accuracy  %.2f%%%n", 100 * totals.relativeAccuracy());
      System.out.printf("TV distance        %.4f%n", totals.meanTotalVariation());
      if (recall) {
        for (var g : List.of(java.util.Map.entry("determined", determined), java.util.Map.entry("rest", rest))) {
          System.out.printf("%-10s %,7d positions: accuracy %.2f%% (primary: %.2f%%), TV distance %.4f%n", g.getKey(),
              g.getValue().positions, 100 * g.getValue().accuracy(), 100 * g.getValue().primaryAccuracy(),
              g.getValue().meanTotalVariation());
        }
      }
    }
    return 0;
  }

  static String readText(Path file) throws IOException {
    if (!Files.isRegularFile(file)) throw new IOException("data file not found: " + file);
    try (InputStream in = file.toString().endsWith(".gz")
        ? new GZIPInputStream(Files.newInputStream(file)) : Files.newInputStream(file)) {
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
  }
}
