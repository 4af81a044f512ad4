package dev.tandem.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** The hand-written GPT-2 pre-tokenizer against the regex it implements (java.util.regex is the reference). */
class Gpt2PreTokenizerTest {
  private static final Pattern REGEX =
      Pattern.compile(Gpt2PreTokenizer.PATTERN, Pattern.UNICODE_CHARACTER_CLASS);

  static List<String> byRegex(String text) {
    List<String> out = new ArrayList<>();
    Matcher m = REGEX.matcher(text);
    int end = 0;
    while (m.find()) {
      assertThat(m.start()).as("regex leaves no gap").isEqualTo(end);
      out.add(m.group());
      end = m.end();
    }
    assertThat(end).isEqualTo(text.length());
    return out;
  }

  static List<String> split(PreTokenizer pre, String text) {
    byte[] b = text.getBytes(StandardCharsets.UTF_8);
    List<String> out = new ArrayList<>();
    pre.split(b, 0, b.length, (bytes, from, to) -> {
      assertThat(to).isGreaterThan(from);
      out.add(new String(bytes, from, to - from, StandardCharsets.UTF_8));
    });
    assertThat(String.join("", out)).isEqualTo(text);
    return out;
  }

  @Test
  void examples() {
    Gpt2PreTokenizer pre = new Gpt2PreTokenizer();
    assertThat(split(pre, "Hello world!")).containsExactly("Hello", " world", "!");
    assertThat(split(pre, "I'm here, you're not")).containsExactly("I", "'m", " here", ",", " you", "'re", " not");
    assertThat(split(pre, "a  b\n\nc   ")).containsExactly("a", " ", " b", "\n", "\n", "c", "   ");
    assertThat(split(pre, "x \nz")).containsExactly("x", " ", "\n", "z");
    assertThat(split(pre, "2024 ½ Ⅻ ٣")).containsExactly("2024", " ½", " Ⅻ", " ٣");
    assertThat(split(pre, "?''s 's")).containsExactly("?''", "s", " '", "s");
    assertThat(split(pre, "a\u00A0b")).containsExactly("a", "\u00A0", "b");
  }

  @Test
  void scannerEqualsRegexOnRandomText() {
    RandomText random = new RandomText(1);
    Gpt2PreTokenizer scanner = new Gpt2PreTokenizer();
    PreTokenizer.RegexSplit regexSplit = new PreTokenizer.RegexSplit(Gpt2PreTokenizer.PATTERN, false);
    for (int i = 0; i < 20_000; i++) {
      String text = random.text(i < 10_000 ? 8 : 40);
      List<String> expected = byRegex(text);
      assertThat(split(scanner, text)).as("pieces of %s", ByteLevelBpeTokenizerTest.show(text))
          .isEqualTo(expected);
      if (i % 10 == 0) assertThat(split(regexSplit, text)).isEqualTo(expected);
    }
  }

  @Test
  void whiteSpaceClassEqualsRegex() {
    Pattern space = Pattern.compile("\\s", Pattern.UNICODE_CHARACTER_CLASS);
    for (int cp = 0; cp < 0x110000; cp++) {
      if (cp >= 0xD800 && cp <= 0xDFFF) continue;
      boolean expected = space.matcher(Character.toString(cp)).matches();
      if (Gpt2PreTokenizer.isWhiteSpace(cp) != expected) {
        throw new AssertionError(String.format("U+%04X: whitespace %s, regex says %s", cp, !expected, expected));
      }
    }
  }
}
