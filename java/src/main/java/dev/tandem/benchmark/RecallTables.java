package dev.tandem.benchmark;

import dev.tandem.cli.PositionGroup;
import dev.tandem.backend.Backend;
import dev.tandem.engine.Engine;
import dev.tandem.engine.EngineBuilder;
import dev.tandem.speculative.DrafterEvaluation;
import dev.tandem.train.data.RecallTask;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Table 1 of {@code tandem bench paper --task recall}: the small models (and the controls, where
 * models/recall has them) on held-out recall lines, teacher forced with primary blocks of 2 as
 * {@code tandem eval --recall}, split into the positions the context determines and the rest.
 */
final class RecallTables {
  private RecallTables() {}

  /** One row: a small model evaluated against a primary; {@code againstPrimary} false for a control's own primary. */
  private record Row(String name, Path primary, Path small, boolean againstPrimary) {}

  /** The three groups of one row. */
  record Groups(PositionGroup determined, PositionGroup rest, DrafterEvaluation.Totals all) {}

  static Groups evaluate(EngineBuilder setup, Backend backend, List<int[]> lines, int maxPositions)
      throws IOException {
    PositionGroup determined = new PositionGroup(), rest = new PositionGroup();
    DrafterEvaluation.Totals all = new DrafterEvaluation.Totals();
    int window = 3;
    for (int[] line : lines) window = Math.max(window, line.length);
    try (Engine models = setup.backend(backend).gamma(2).context(window).prefillBudget(3).build()) {
      DrafterEvaluation evaluation = new DrafterEvaluation(models.primary(), models.drafter(), 2);
      for (int i = 0; i < lines.size() && all.positions < maxPositions; i++) {
        int[] line = lines.get(i);
        if (line.length < 2) continue;
        boolean[] known = RecallTask.determined(line);
        evaluation.window(line, all, p -> (known[p.position() + 1] ? determined : rest).add(p));
      }
    }
    return new Groups(determined, rest, all);
  }

  static void table1(StringBuilder report, Backend backend, Path dir, EngineBuilder[] setups, String[] names,
      List<int[]> lines, int maxPositions) throws IOException {
    List<Row> rows = new ArrayList<>();
    String[] small = {"drafter", "drafter-distil", "tandem-ce", "tandem-distil"};
    for (int i = 0; i < small.length; i++) rows.add(new Row(names[i], dir.resolve("primary"), dir.resolve(small[i]), true));
    Path random = dir.resolve("control-random-primary");
    if (Files.isDirectory(dir.resolve("control-drafter-2layer"))) {
      rows.add(new Row("Control: two-layer plain drafter (CE)", dir.resolve("primary"),
          dir.resolve("control-drafter-2layer"), true));
    }
    if (Files.isDirectory(random) && Files.isDirectory(dir.resolve("control-tandem-random"))) {
      rows.add(new Row("Control: Tandem-CE trained on a random primary's states", random,
          dir.resolve("control-tandem-random"), false));
    }
    if (Files.isDirectory(random)) {
      rows.add(new Row("Control: Tandem-Distil reading a random primary's states", random, dir.resolve("tandem-distil"),
          false));
    }
    report.append("## Table 1: the small models on held-out recall sequences\n\nTeacher forced, primary blocks of 2"
        + " (`tandem eval --recall --block-length 2`): each model predicts the token after the first position of every"
        + " block, ").append(maxPositions).append(" positions at most. Determined: the positions whose token the"
        + " context fixes; rest: the others. TV distance is to the trained primary's distribution (a control that"
        + " reads a random primary is compared with the ground truth only).\n\n"
        + "| model | determined: accuracy | determined: TV distance | rest: accuracy | rest: TV distance |"
        + " all: accuracy | all: cross-entropy |\n|---|---|---|---|---|---|---|\n");
    Groups plain = null, distil = null, primary = null;
    for (int r = 0; r < rows.size(); r++) {
      Row row = rows.get(r);
      EngineBuilder setup = r < setups.length ? setups[r]
          : EngineBuilder.load(row.primary()).drafter(row.small()).fixedSpeculation();
      Groups g = evaluate(setup, backend, lines, maxPositions);
      if (r == 0) plain = g;
      if (r == 3) distil = g;
      if (r == 0) primary = g;
      report.append(String.format("| %s | %.2f %% | %s | %.2f %% | %s | %.2f %% | %.3f |%n", row.name(),
          100 * g.determined().accuracy(), row.againstPrimary() ? String.format("%.3f",
              g.determined().meanTotalVariation()) : "-", 100 * g.rest().accuracy(), row.againstPrimary()
              ? String.format("%.3f", g.rest().meanTotalVariation()) : "-", 100 * g.all().accuracy(),
          g.all().crossEntropy()));
      System.err.printf("table 1: %s done (%d positions)%n", row.name(), g.all().positions);
    }
    report.append(String.format("| (the primary itself) | %.2f %% | 0 | %.2f %% | 0 | %.2f %% | %.3f |%n%n",
        100 * primary.determined().primaryAccuracy(), 100 * primary.rest().primaryAccuracy(),
        100 * primary.all().primaryAccuracy(), primary.all().primaryCrossEntropy()));
    double gap = primary.determined().primaryAccuracy() - plain.determined().accuracy();
    report.append(String.format("On the determined positions Tandem-Distil closes %.1f %% of the gap between the plain"
        + " one-layer drafter (%.2f %%, %.2fx the primary's accuracy) and the primary (%.2f %%); its TV distance is"
        + " %.2fx the plain drafter's (%.3f against %.3f).%n%n",
        100 * (distil.determined().accuracy() - plain.determined().accuracy()) / gap, 100 * plain.determined().accuracy(),
        plain.determined().accuracy() / primary.determined().primaryAccuracy(), 100 * primary.determined().primaryAccuracy(),
        distil.determined().meanTotalVariation() / plain.determined().meanTotalVariation(),
        distil.determined().meanTotalVariation(), plain.determined().meanTotalVariation()));
  }
}
