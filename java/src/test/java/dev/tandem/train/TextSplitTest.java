package dev.tandem.train;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tandem.tokenizer.ByteLevelBpeTokenizer;
import dev.tandem.tokenizer.BpeTrainer;
import dev.tandem.train.data.TextSplit;
import dev.tandem.train.data.TokenData;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The train/validation split: complete, disjoint, deterministic; the streams keep the sides apart. */
class TextSplitTest {
  /** Lines that are all distinct ("file F line N ..."), so any shared text would show as a shared line. */
  static Path write(Path dir, String name, int file, int lines, boolean gzip) throws IOException {
    StringBuilder sb = new StringBuilder();
    java.util.SplittableRandom r = new java.util.SplittableRandom(file);
    for (int i = 0; i < lines; i++) {
      sb.append("file ").append(file).append(" line ").append(i).append(':');
      for (int w = 0; w < 6; w++) sb.append(' ').append(List.of("the", "king", "said", "unto", "them", "and").get(r.nextInt(6)));
      sb.append('\n');
    }
    Path p = dir.resolve(name);
    byte[] bytes = sb.toString().getBytes(StandardCharsets.UTF_8);
    if (gzip) {
      try (OutputStream out = new GZIPOutputStream(Files.newOutputStream(p))) {
        out.write(bytes);
      }
    } else {
      Files.write(p, bytes);
    }
    return p;
  }

  @Test
  void trainingAndValidationNeverShareText(@TempDir Path dir) throws IOException {
    Path a = write(dir, "a.txt.gz", 1, 3000, true), b = write(dir, "b.txt", 2, 2000, false);
    TextSplit split = TextSplit.of(List.of(a, b), 512, 0.1);
    // Complete: the segments of each file put back together are the file.
    for (int f = 0; f < 2; f++) {
      java.io.ByteArrayOutputStream joined = new java.io.ByteArrayOutputStream();
      for (TextSplit.Segment s : split.segments()) if (s.file() == f) joined.write(s.bytes());
      assertThat(joined.toByteArray()).isEqualTo(TextSplit.read(List.of(a, b).get(f)));
    }
    assertThat(split.side(true)).isNotEmpty();
    assertThat(split.bytes(true)).isBetween(split.bytes(false) / 30, split.bytes(false) / 4);

    // Disjoint: no line (all lines are distinct) is on both sides, in text or in the token streams.
    ByteLevelBpeTokenizer tokenizer = new BpeTrainer(300, List.of("<|endoftext|>")).train(split.texts(false));
    TokenData data = TokenData.of(split, tokenizer, dir.resolve("cache"));
    String trainText = tokenizer.decode(data.train()), valText = tokenizer.decode(data.validation());
    Set<String> trainLines = lines(trainText), valLines = lines(valText);
    assertThat(valLines).isNotEmpty();
    Set<String> shared = new HashSet<>(trainLines);
    shared.retainAll(valLines);
    assertThat(shared).as("lines on both sides").isEmpty();
    for (TextSplit.Segment s : split.side(true)) {
      String text = new String(s.bytes(), StandardCharsets.UTF_8).strip();
      assertThat(trainText).doesNotContain(text);
      assertThat(valText).contains(text);
    }
    // The cache gives back the same streams.
    TokenData again = TokenData.of(split, tokenizer, dir.resolve("cache"));
    assertThat(again.train()).isEqualTo(data.train());
    assertThat(again.validation()).isEqualTo(data.validation());
  }

  @Test
  void assignmentDependsOnlyOnTheSegmentsText(@TempDir Path dir) throws IOException {
    Path a = write(dir, "a.txt", 3, 2000, false), b = write(dir, "b.txt", 4, 2000, false);
    TextSplit ab = TextSplit.of(List.of(a, b), 512, 0.05), ba = TextSplit.of(List.of(b, a), 512, 0.05);
    assertThat(validationTexts(ab)).isEqualTo(validationTexts(ba));
    TextSplit aOnly = TextSplit.of(List.of(a), 512, 0.05);
    assertThat(validationTexts(ab)).containsAll(validationTexts(aOnly));
  }

  static Set<String> validationTexts(TextSplit s) {
    Set<String> out = new HashSet<>();
    for (TextSplit.Segment seg : s.side(true)) out.add(new String(seg.bytes(), StandardCharsets.UTF_8));
    return out;
  }

  /** Complete lines ("file F line N: ...") of a text, without the partial ones at segment cuts. */
  static Set<String> lines(String text) {
    Set<String> out = new HashSet<>();
    for (String line : text.split("\n|<\\|endoftext\\|>")) {
      if (line.startsWith("file ") && line.split(" ").length == 10) out.add(line);
    }
    return out;
  }
}
