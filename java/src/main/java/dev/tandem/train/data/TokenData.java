package dev.tandem.train.data;

import dev.tandem.secondary.PrimaryFingerprint;
import dev.tandem.tokenizer.Tokenizer;
import dev.tandem.util.AtomicFiles;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.IntStream;

/**
 * The tokenized training and validation streams of a {@link TextSplit}. Each side's segments are
 * encoded one by one (in parallel; the result does not depend on it) and concatenated in file order;
 * where the text is not contiguous (a new file, or segments held out in between) the end-of-text token
 * separates the pieces, so no sequence reads across a gap as if it were one text.
 *
 * <p>Cached on disk (int32 little-endian) under a name derived from the split's fingerprint and the
 * tokenizer's vocabulary, so runs on the same data skip tokenizing.
 */
public record TokenData(int[] train, int[] validation, String key) {

  /** Tokenizes (or loads from {@code cacheDir}, when given) the two sides of a split. */
  public static TokenData of(TextSplit split, Tokenizer tokenizer, Path cacheDir) throws IOException {
    String key = PrimaryFingerprint.sha256(split.fingerprint() + ":" + PrimaryFingerprint.vocabularyHash(tokenizer))
        .substring(0, 16);
    if (cacheDir != null) {
      Path trainFile = cacheDir.resolve("tokens-" + key + ".train.bin");
      Path valFile = cacheDir.resolve("tokens-" + key + ".val.bin");
      if (Files.isRegularFile(trainFile) && Files.isRegularFile(valFile)) {
        return new TokenData(readInts(trainFile), readInts(valFile), key);
      }
      TokenData data = new TokenData(stream(split, tokenizer, false), stream(split, tokenizer, true), key);
      writeInts(trainFile, data.train);
      writeInts(valFile, data.validation);
      return data;
    }
    return new TokenData(stream(split, tokenizer, false), stream(split, tokenizer, true), key);
  }

  /** One side's token stream. */
  public static int[] stream(TextSplit split, Tokenizer tokenizer, boolean validation) {
    List<TextSplit.Segment> all = split.segments();
    int[][] encoded = new int[all.size()][];
    IntStream.range(0, all.size()).parallel().forEach(i -> {
      if (all.get(i).validation() == validation) encoded[i] = tokenizer.encode(all.get(i).bytes());
    });
    int eos = tokenizer.eosId().orElse(-1);
    int total = 0;
    for (int[] e : encoded) if (e != null) total += e.length + 1;
    int[] out = new int[total];
    int n = 0;
    boolean previousOnSide = false;
    for (int i = 0; i < all.size(); i++) {
      TextSplit.Segment s = all.get(i);
      if (s.validation() != validation) {
        previousOnSide = false;
        continue;
      }
      boolean contiguous = previousOnSide && all.get(i - 1).file() == s.file();
      if (!contiguous && n > 0 && eos >= 0) out[n++] = eos;
      System.arraycopy(encoded[i], 0, out, n, encoded[i].length);
      n += encoded[i].length;
      previousOnSide = true;
    }
    return java.util.Arrays.copyOf(out, n);
  }

  static int[] readInts(Path file) throws IOException {
    byte[] bytes = Files.readAllBytes(file);
    if (bytes.length % 4 != 0) throw new IOException(file + ": not a token file (size " + bytes.length + ")");
    int[] out = new int[bytes.length / 4];
    ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).asIntBuffer().get(out);
    return out;
  }

  static void writeInts(Path file, int[] values) throws IOException {
    ByteBuffer b = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
    b.asIntBuffer().put(values);
    AtomicFiles.write(file, b.array());
  }
}
