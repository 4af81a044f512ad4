package dev.tandem.train;

import java.io.PrintStream;
import java.util.Locale;

/**
 * The progress line on stderr: stage, update, a bar, loss, validation loss, tokens/s, ETA. On a terminal
 * one line is redrawn in place; otherwise (a log file under nohup) a full line is printed every
 * {@code minSeconds} seconds and at the last update.
 */
public final class Progress {
  private final PrintStream out;
  private final String label;
  private final long total;
  private final boolean terminal;
  private final double minSeconds;
  private long lastPrint;

  public Progress(PrintStream out, String label, long total, boolean terminal, double minSeconds) {
    this.out = out;
    this.label = label;
    this.total = total;
    this.terminal = terminal;
    this.minSeconds = minSeconds;
  }

  /** A progress line for the current process's stderr (a terminal or not). */
  public static Progress stderr(String label, long total) {
    return new Progress(System.err, label, total, System.console() != null, 30);
  }

  public void update(long step, double loss, double valLoss, double tokensPerSecond, double etaSeconds, double lr) {
    print(step, String.format(Locale.ROOT, " loss %.4f%s lr %.2e", loss,
        Double.isNaN(valLoss) ? "" : String.format(Locale.ROOT, " val %.4f", valLoss), lr), tokensPerSecond, etaSeconds);
  }

  /** A step of work without a loss (generation, collection): the bar, tokens/s and ETA. */
  public void update(long step, double tokensPerSecond, double etaSeconds) {
    print(step, "", tokensPerSecond, etaSeconds);
  }

  /** A step of work with a detail of its own (" accepted 2.31") between the bar and tokens/s. */
  public void update(long step, String detail, double tokensPerSecond, double etaSeconds) {
    print(step, detail, tokensPerSecond, etaSeconds);
  }

  private void print(long step, String middle, double tokensPerSecond, double etaSeconds) {
    long now = System.nanoTime();
    boolean last = step >= total;
    if (!terminal && !last && lastPrint != 0 && (now - lastPrint) / 1e9 < minSeconds) return;
    lastPrint = now;
    int width = 24;
    int filled = (int) Math.max(0, Math.min(width, Math.round(width * (double) step / Math.max(1, total))));
    String bar = "#".repeat(filled) + "-".repeat(width - filled);
    String line = String.format(Locale.ROOT, "%s %d/%d [%s] %3.0f%%%s %.0f tok/s ETA %s", label, step, total, bar,
        100.0 * step / Math.max(1, total), middle, tokensPerSecond, duration(etaSeconds));
    if (terminal) {
      out.print("\r" + line + (last ? "\n" : ""));
    } else {
      out.println(line);
    }
    out.flush();
  }

  public void message(String text) {
    if (terminal) out.print("\r");
    out.println(text);
    out.flush();
  }

  static String duration(double seconds) {
    if (!Double.isFinite(seconds) || seconds < 0) return "?";
    long s = Math.round(seconds);
    if (s >= 3600) return String.format(Locale.ROOT, "%dh%02dm%02ds", s / 3600, s / 60 % 60, s % 60);
    if (s >= 60) return String.format(Locale.ROOT, "%dm%02ds", s / 60, s % 60);
    return s + "s";
  }
}
