package dev.tandem.train.data;

import java.io.IOException;
import java.io.InputStream;
import java.io.PushbackInputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.GZIPInputStream;

/**
 * The deterministic train/validation split of a set of text files, <b>by chunk</b>.
 *
 * <p>Each file (UTF-8; gzip-compressed files are recognised by their magic bytes) is cut into
 * consecutive segments of about {@code segmentBytes}: a segment ends right before the first whitespace
 * byte at or after {@code segmentBytes} bytes (so the next one starts with the space that the
 * pre-tokenizer keeps with its word), or at the end of the file. A segment goes to validation when the
 * first 8 bytes of sha256(its bytes), as an unsigned number, fall below {@code validationFraction} of
 * 2^64; otherwise to training. The assignment depends only on the segment's own bytes: not on the file
 * name, the order of the files or the other files, so adding a file never moves text between the sides,
 * and identical segments (repeated boilerplate) always land on the same side. Every byte of every file
 * is in exactly one segment.
 *
 * <p>Training and evaluation never see each other's text: the training stream is built from training
 * segments only (the tokenizer recipe also learns from training segments only), evaluation from
 * validation segments only.
 */
public final class TextSplit {
  /** Default segment size: about two pages of prose. */
  public static final int DEFAULT_SEGMENT_BYTES = 8192;
  /** Default share of segments held out for validation. */
  public static final double DEFAULT_VALIDATION_FRACTION = 0.01;

  /** A segment of a file: bytes [start, end) of file {@code file}. */
  public record Segment(int file, long start, byte[] bytes, boolean validation) {}

  private final List<Path> files;
  private final List<Segment> segments;
  private final int segmentBytes;
  private final double validationFraction;
  private final int heldOutFiles; // > 0: the last heldOutFiles files are the validation side, whole

  private TextSplit(List<Path> files, List<Segment> segments, int segmentBytes, double validationFraction,
      int heldOutFiles) {
    this.files = files;
    this.segments = segments;
    this.segmentBytes = segmentBytes;
    this.validationFraction = validationFraction;
    this.heldOutFiles = heldOutFiles;
  }

  /**
   * A split by file: every segment of {@code training} is training text, every segment of
   * {@code heldOut} validation text (e.g. a generated task's text from other seeds). Each side's
   * files stay contiguous, so a side that is one file tokenizes into one stream without gaps.
   */
  public static TextSplit byFile(List<Path> training, List<Path> heldOut, int segmentBytes) throws IOException {
    if (training.isEmpty()) throw new IllegalArgumentException("no text files given");
    if (heldOut.isEmpty()) throw new IllegalArgumentException("no held-out files given");
    if (segmentBytes < 64) throw new IllegalArgumentException("segment size must be >= 64 bytes, got " + segmentBytes);
    List<Path> all = new ArrayList<>(training);
    all.addAll(heldOut);
    List<Segment> segments = new ArrayList<>();
    for (int f = 0; f < all.size(); f++) {
      byte[] text = read(all.get(f));
      boolean validation = f >= training.size();
      for (long[] range : cut(text, segmentBytes)) {
        segments.add(new Segment(f, range[0], java.util.Arrays.copyOfRange(text, (int) range[0], (int) range[1]),
            validation));
      }
    }
    return new TextSplit(List.copyOf(all), segments, segmentBytes, 0, heldOut.size());
  }

  /** Files held out whole ({@link #byFile}); 0 for a split by segment hash. */
  public int heldOutFiles() {
    return heldOutFiles;
  }

  public static TextSplit of(List<Path> files, int segmentBytes, double validationFraction) throws IOException {
    if (files.isEmpty()) throw new IllegalArgumentException("no text files given");
    if (segmentBytes < 64) throw new IllegalArgumentException("segment size must be >= 64 bytes, got " + segmentBytes);
    if (!(validationFraction >= 0 && validationFraction < 1)) {
      throw new IllegalArgumentException("validation fraction must be in [0, 1), got " + validationFraction);
    }
    List<Segment> segments = new ArrayList<>();
    for (int f = 0; f < files.size(); f++) {
      byte[] text = read(files.get(f));
      for (long[] range : cut(text, segmentBytes)) {
        byte[] bytes = java.util.Arrays.copyOfRange(text, (int) range[0], (int) range[1]);
        segments.add(new Segment(f, range[0], bytes, isValidation(bytes, validationFraction)));
      }
    }
    return new TextSplit(List.copyOf(files), segments, segmentBytes, validationFraction, 0);
  }

  /**
   * Bytes that are not text: those of invalid UTF-8 sequences, and control characters other than tab,
   * newline, carriage return and form feed (a binary file has many; a text file none).
   */
  public static long nonTextBytes(byte[] b) {
    long bad = 0;
    int i = 0;
    while (i < b.length) {
      int c = b[i] & 0xFF;
      if (c < 0x80) {
        if (c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f' || c == 0x7F) bad++;
        i++;
        continue;
      }
      int n = c >= 0xC2 && c <= 0xDF ? 1 : c >= 0xE0 && c <= 0xEF ? 2 : c >= 0xF0 && c <= 0xF4 ? 3 : -1;
      boolean ok = n > 0 && i + n < b.length;
      if (ok) {
        for (int k = 1; k <= n; k++) ok &= i + k < b.length && (b[i + k] & 0xC0) == 0x80;
        if (ok && n == 2) ok = !(c == 0xE0 && (b[i + 1] & 0xFF) < 0xA0) && !(c == 0xED && (b[i + 1] & 0xFF) > 0x9F);
        if (ok && n == 3) ok = !(c == 0xF0 && (b[i + 1] & 0xFF) < 0x90) && !(c == 0xF4 && (b[i + 1] & 0xFF) > 0x8F);
      }
      if (ok) {
        i += n + 1;
      } else {
        bad++;
        i++;
      }
    }
    return bad;
  }

  /** A file's bytes, gunzipped when it starts with the gzip magic bytes. */
  public static byte[] read(Path file) throws IOException {
    if (!Files.isRegularFile(file)) throw new IOException("text file not found: " + file);
    try (PushbackInputStream in = new PushbackInputStream(Files.newInputStream(file), 2)) {
      int b0 = in.read(), b1 = in.read();
      if (b1 >= 0) in.unread(b1);
      if (b0 >= 0) in.unread(b0);
      InputStream body = b0 == 0x1f && b1 == 0x8b ? new GZIPInputStream(in, 1 << 16) : in;
      return body.readAllBytes();
    } catch (java.util.zip.ZipException e) {
      throw new IOException(file + ": corrupt gzip data: " + e.getMessage(), e);
    }
  }

  /** Segment boundaries [start, end) of a text. */
  static List<long[]> cut(byte[] text, int segmentBytes) {
    List<long[]> out = new ArrayList<>();
    int start = 0;
    while (start < text.length) {
      int end = Math.min(text.length, start + segmentBytes);
      while (end < text.length && !isSpace(text[end])) end++;
      out.add(new long[] {start, end});
      start = end;
    }
    return out;
  }

  private static boolean isSpace(byte b) {
    return b == ' ' || b == '\n' || b == '\r' || b == '\t';
  }

  static boolean isValidation(byte[] bytes, double fraction) {
    if (fraction <= 0) return false;
    try {
      byte[] h = MessageDigest.getInstance("SHA-256").digest(bytes);
      long v = 0;
      for (int i = 0; i < 8; i++) v = v << 8 | (h[i] & 0xff);
      // Unsigned v / 2^64 < fraction.
      double unit = (v >>> 11) * 0x1.0p-53;
      return unit < fraction;
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  public List<Path> files() {
    return files;
  }

  public List<Segment> segments() {
    return segments;
  }

  public int segmentBytes() {
    return segmentBytes;
  }

  public double validationFraction() {
    return validationFraction;
  }

  /** The segments of one side, in file order. */
  public List<Segment> side(boolean validation) {
    return segments.stream().filter(s -> s.validation() == validation).toList();
  }

  /** Bytes on one side. */
  public long bytes(boolean validation) {
    long n = 0;
    for (Segment s : segments) if (s.validation() == validation) n += s.bytes().length;
    return n;
  }

  /** The text of one side's segments, one string per segment (for the tokenizer trainer). */
  public List<String> texts(boolean validation) {
    List<String> out = new ArrayList<>();
    for (Segment s : side(validation)) out.add(new String(s.bytes(), StandardCharsets.UTF_8));
    return out;
  }

  /** sha256 over the split's parameters and every segment's side and bytes: names this exact split. */
  public String fingerprint() {
    try {
      MessageDigest md = MessageDigest.getInstance("SHA-256");
      String head = "split:" + segmentBytes + ":" + validationFraction + (heldOutFiles > 0 ? ":files:" + heldOutFiles : "");
      md.update((head + "\n").getBytes(StandardCharsets.UTF_8));
      for (Segment s : segments) {
        md.update((byte) (s.validation() ? 1 : 0));
        md.update(s.bytes());
        md.update((byte) 0xff);
      }
      return java.util.HexFormat.of().formatHex(md.digest());
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
