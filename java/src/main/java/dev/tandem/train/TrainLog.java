package dev.tandem.train;

import dev.tandem.util.AtomicFiles;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The CSV log of a training stage ({@code log.csv}): one row per update, with the validation loss on
 * the rows where it was measured. Rows are appended and flushed as they come; a resumed run first drops
 * the rows after its checkpoint, so the log never holds two histories.
 */
public final class TrainLog {
  public static final String FILE = "log.csv";
  public static final String HEADER =
      "step,tokens,lr,loss,hard_ce,soft_ce,grad_norm,tokens_per_s,elapsed_s,val_loss";

  /** One row; valLoss is NaN when not measured at this step. */
  public record Row(long step, long tokens, double lr, double loss, double hardCe, double softCe, double gradNorm,
      double tokensPerSecond, double elapsedSeconds, double valLoss) {
    String csv() {
      return String.format(Locale.ROOT, "%d,%d,%.6g,%.6f,%.6f,%.6f,%.6g,%.1f,%.1f,%s", step, tokens, lr, loss, hardCe,
          softCe, gradNorm, tokensPerSecond, elapsedSeconds, Double.isNaN(valLoss) ? "" : String.format(Locale.ROOT,
              "%.6f", valLoss));
    }

    static Row parse(String line) {
      String[] f = line.split(",", -1);
      return new Row(Long.parseLong(f[0]), Long.parseLong(f[1]), Double.parseDouble(f[2]), Double.parseDouble(f[3]),
          Double.parseDouble(f[4]), Double.parseDouble(f[5]), Double.parseDouble(f[6]), Double.parseDouble(f[7]),
          Double.parseDouble(f[8]), f[9].isEmpty() ? Double.NaN : Double.parseDouble(f[9]));
    }
  }

  private final Path file;

  public TrainLog(Path dir) {
    this.file = dir.resolve(FILE);
  }

  public Path file() {
    return file;
  }

  /** Keeps the rows with step &lt;= {@code lastStep} (1-based update count) and drops the rest. */
  public void truncateAfter(long lastStep) throws IOException {
    List<Row> keep = new ArrayList<>();
    for (Row r : read(file)) if (r.step <= lastStep) keep.add(r);
    StringBuilder sb = new StringBuilder(HEADER).append('\n');
    for (Row r : keep) sb.append(r.csv()).append('\n');
    AtomicFiles.writeString(file, sb.toString());
  }

  public void append(Row row) throws IOException {
    Files.writeString(file, row.csv() + "\n", StandardCharsets.UTF_8, StandardOpenOption.CREATE,
        StandardOpenOption.APPEND);
  }

  /** The rows of a log file (none when it does not exist); a torn last line is ignored. */
  public static List<Row> read(Path file) throws IOException {
    List<Row> rows = new ArrayList<>();
    if (!Files.isRegularFile(file)) return rows;
    for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
      if (line.isBlank() || line.startsWith("step")) continue;
      try {
        rows.add(Row.parse(line));
      } catch (RuntimeException e) {
        // a line cut by a kill in the middle of a write
      }
    }
    return rows;
  }
}
