package dev.tandem.train;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import javax.imageio.ImageIO;

/**
 * The loss curves of a run as a PNG (java.awt, headless): training loss (thin: per update; thick: a
 * moving average) and validation loss (dots joined), one colour per stage, stages placed one after the
 * other on the update axis.
 */
public final class LossPlot {
  private LossPlot() {}

  /** A named stage's log rows. */
  public record Stage(String name, List<TrainLog.Row> rows) {}

  private static final Color[] COLORS = {new Color(0x1f77b4), new Color(0xd62728), new Color(0x2ca02c),
      new Color(0x9467bd)};

  public static void write(Path png, String title, List<Stage> stages) throws IOException {
    System.setProperty("java.awt.headless", "true");
    int width = 960, height = 540, left = 70, right = 20, top = 40, bottom = 50;
    BufferedImage image = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
    Graphics2D g = image.createGraphics();
    g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
    g.setColor(Color.WHITE);
    g.fillRect(0, 0, width, height);

    long totalSteps = 0;
    double lo = Double.POSITIVE_INFINITY, hi = Double.NEGATIVE_INFINITY;
    for (Stage s : stages) {
      // The range leaves out the first 5% of each stage's updates (the initial loss would flatten the rest).
      List<TrainLog.Row> all = s.rows();
      for (TrainLog.Row r : all.subList(all.size() / 20, all.size())) {
        for (double v : new double[] {r.loss(), r.valLoss()}) {
          if (Double.isFinite(v)) {
            lo = Math.min(lo, v);
            hi = Math.max(hi, v);
          }
        }
      }
      totalSteps += s.rows().isEmpty() ? 0 : s.rows().getLast().step();
    }
    if (!Double.isFinite(lo)) {
      lo = 0;
      hi = 1;
    }
    double pad = Math.max(1e-3, (hi - lo) * 0.05);
    lo -= pad;
    hi += pad;
    long xMax = Math.max(1, totalSteps);
    int plotW = width - left - right, plotH = height - top - bottom;

    g.setColor(Color.BLACK);
    g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 15));
    g.drawString(title, left, 24);
    g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
    g.drawRect(left, top, plotW, plotH);
    for (int i = 0; i <= 5; i++) {
      double v = lo + (hi - lo) * i / 5;
      int y = top + plotH - (int) Math.round(plotH * (v - lo) / (hi - lo));
      g.setColor(new Color(0xe0e0e0));
      g.drawLine(left + 1, y, left + plotW - 1, y);
      g.setColor(Color.BLACK);
      g.drawString(String.format(Locale.ROOT, "%.2f", v), 10, y + 4);
      long step = xMax * i / 5;
      int x = left + (int) Math.round((double) plotW * step / xMax);
      g.drawString(Long.toString(step), x - 10, top + plotH + 18);
    }
    g.drawString("update", left + plotW / 2 - 20, height - 12);
    g.drawString("loss (nats/token)", width - right - 110, top - 8);

    long offset = 0;
    int legendY = top + 18;
    for (int si = 0; si < stages.size(); si++) {
      Stage s = stages.get(si);
      Color c = COLORS[si % COLORS.length];
      List<TrainLog.Row> rows = s.rows();
      if (rows.isEmpty()) continue;
      // Raw training loss, light.
      g.setColor(new Color(c.getRed(), c.getGreen(), c.getBlue(), 70));
      g.setStroke(new BasicStroke(1f));
      int px = -1, py = -1;
      for (TrainLog.Row r : rows) {
        int x = xOf(offset + r.step(), xMax, left, plotW), y = yOf(r.loss(), lo, hi, top, plotH);
        if (px >= 0) g.drawLine(px, py, x, y);
        px = x;
        py = y;
      }
      // Moving average.
      g.setColor(c);
      g.setStroke(new BasicStroke(2f));
      double ema = rows.getFirst().loss();
      double alpha = Math.min(1.0, 20.0 / rows.size());
      px = -1;
      for (TrainLog.Row r : rows) {
        ema = ema + alpha * (r.loss() - ema);
        int x = xOf(offset + r.step(), xMax, left, plotW), y = yOf(ema, lo, hi, top, plotH);
        if (px >= 0) g.drawLine(px, py, x, y);
        px = x;
        py = y;
      }
      // Validation.
      g.setColor(c.darker());
      g.setStroke(new BasicStroke(1.5f, BasicStroke.CAP_ROUND, BasicStroke.JOIN_ROUND, 1f, new float[] {5f, 4f}, 0f));
      px = -1;
      for (TrainLog.Row r : rows) {
        if (Double.isNaN(r.valLoss())) continue;
        int x = xOf(offset + r.step(), xMax, left, plotW), y = yOf(r.valLoss(), lo, hi, top, plotH);
        g.fillOval(x - 3, y - 3, 7, 7);
        if (px >= 0) g.drawLine(px, py, x, y);
        px = x;
        py = y;
      }
      g.setStroke(new BasicStroke(1f));
      g.setColor(c);
      TrainLog.Row last = rows.getLast();
      double lastVal = Double.NaN;
      for (TrainLog.Row r : rows) if (!Double.isNaN(r.valLoss())) lastVal = r.valLoss();
      g.drawString(String.format(Locale.ROOT, "%s: train (avg) %.3f, validation %.3f (dashed) at update %d", s.name(),
          ema, lastVal, last.step()), left + plotW - 420, legendY);
      legendY += 16;
      offset += last.step();
      if (si < stages.size() - 1) {
        g.setColor(Color.GRAY);
        int x = xOf(offset, xMax, left, plotW);
        g.drawLine(x, top, x, top + plotH);
      }
    }
    g.dispose();
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ImageIO.write(image, "png", out);
    dev.tandem.util.AtomicFiles.write(png, out.toByteArray());
  }

  private static int xOf(long step, long xMax, int left, int plotW) {
    return left + (int) Math.round((double) plotW * step / xMax);
  }

  private static int yOf(double v, double lo, double hi, int top, int plotH) {
    double clamped = Math.max(lo, Math.min(hi, v));
    return top + plotH - (int) Math.round(plotH * (clamped - lo) / (hi - lo));
  }
}
