package dev.tandem.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Round-trip properties over many seeded random inputs (plain seeded loops, not jqwik: jqwik 1.10.1
 * prints a notice asking AI agents, which wrote these tests, not to use it), for GPT-2's tokenizer,
 * a bytes-only one and one trained here.
 */
class TokenizerRoundTripTest {
  static final List<String> SPECIALS = List.of("<|endoftext|>", "<|pad|>", "<s>");
  static List<ByteLevelBpeTokenizer> tokenizers;

  @BeforeAll
  static void setUp() throws IOException {
    ByteLevelBpeTokenizer trained = new BpeTrainer(1000, SPECIALS)
        .train(List.of(ByteLevelBpeTokenizerTest.resourceText("austen-excerpt.txt"), new RandomText(5).text(3000)));
    tokenizers = List.of(Gpt2Fixture.tokenizer(),
        ByteLevelBpeTokenizer.bytes(SPECIALS), trained);
  }

  @Test
  void anyBytesRoundTrip() {
    for (ByteLevelBpeTokenizer t : tokenizers) {
      RandomText random = new RandomText(11);
      for (int i = 0; i < 3000; i++) {
        byte[] bytes = random.bytes(i < 2000 ? 12 : 200);
        int[] ids = t.encode(bytes);
        assertThat(t.decodeBytes(ids)).as("%s, bytes %s", t, Arrays.toString(bytes)).isEqualTo(bytes);
        assertThat(t.decode(ids)).isEqualTo(Utf8.decode(bytes, 0, bytes.length));
      }
    }
  }

  @Test
  void anyTextRoundTrips() {
    for (ByteLevelBpeTokenizer t : tokenizers) {
      RandomText random = new RandomText(12);
      for (int i = 0; i < 3000; i++) {
        String text = random.text(i < 2000 ? 6 : 60);
        int[] ids = t.encode(text);
        assertThat(t.decode(ids)).as("%s, text %s", t, ByteLevelBpeTokenizerTest.show(text)).isEqualTo(text);
        assertThat(ids).isEqualTo(t.encode(text.getBytes(StandardCharsets.UTF_8)));
      }
    }
  }

  @Test
  void specialTokensInTextAreSingleIdsAndRoundTrip() {
    for (ByteLevelBpeTokenizer t : tokenizers) {
      RandomText random = new RandomText(13);
      for (int i = 0; i < 1000; i++) {
        StringBuilder text = new StringBuilder();
        int specials = 0;
        for (int k = 0; k < 4; k++) {
          text.append(random.text(5));
          if (random.random().nextBoolean() && t.specialTokens().contains("<|endoftext|>")) {
            text.append("<|endoftext|>");
            specials++;
          }
        }
        int[] ids = t.encode(text.toString());
        int eot = t.tokenId("<|endoftext|>").orElse(-1);
        assertThat(Arrays.stream(ids).filter(id -> id == eot).count()).isEqualTo(specials);
        assertThat(t.decode(ids)).isEqualTo(text.toString());
      }
    }
  }

  /**
   * Our U+FFFD policy is Unicode's "maximal subparts" (Python's too). The JDK's decoder agrees except
   * for an encoded surrogate (ED A0..BF ..), which it replaces as one unit where Unicode says one
   * U+FFFD per byte; such inputs are compared with Python's answer instead.
   */
  @Test
  void decodingReplacesMaximalSubparts() {
    RandomText random = new RandomText(14);
    for (int i = 0; i < 20_000; i++) {
      byte[] bytes = random.bytes(30);
      if (hasEncodedSurrogate(bytes)) continue;
      assertThat(Utf8.decode(bytes, 0, bytes.length)).as(Arrays.toString(bytes))
          .isEqualTo(new String(bytes, StandardCharsets.UTF_8));
    }
    // python3 -c "print(b'\xed\xb4\xa3\x1d\xe2\x82A\xf0\x9f\x98'.decode('utf-8', 'replace'))"
    byte[] b = {(byte) 0xED, (byte) 0xB4, (byte) 0xA3, 0x1D, (byte) 0xE2, (byte) 0x82, 'A', (byte) 0xF0,
        (byte) 0x9F, (byte) 0x98};
    assertThat(Utf8.decode(b, 0, b.length)).isEqualTo("\uFFFD\uFFFD\uFFFD\u001D\uFFFDA\uFFFD");
  }

  private static boolean hasEncodedSurrogate(byte[] b) {
    for (int i = 0; i + 1 < b.length; i++) {
      if (b[i] == (byte) 0xED && (b[i + 1] & 0xFF) >= 0xA0 && (b[i + 1] & 0xFF) <= 0xBF) return true;
    }
    return false;
  }

  @Test
  void sequenceLengthSplitsWellFormedFromIllFormed() {
    byte[] euro = "€".getBytes(StandardCharsets.UTF_8); // E2 82 AC
    assertThat(Utf8.sequenceLength(euro, 0, 3)).isEqualTo(3);
    assertThat(Utf8.sequenceLength(euro, 0, 2)).isZero(); // incomplete
    assertThat(Utf8.sequenceLength(euro, 1, 3)).isEqualTo(-1); // stray continuation byte
    byte[] surrogate = {(byte) 0xED, (byte) 0xA0, (byte) 0x80};
    assertThat(Utf8.sequenceLength(surrogate, 0, 3)).isEqualTo(-1);
    byte[] overlong = {(byte) 0xC0, (byte) 0x80};
    assertThat(Utf8.sequenceLength(overlong, 0, 2)).isEqualTo(-1);
    byte[] brokenEuro = {(byte) 0xE2, (byte) 0x82, 'A'};
    assertThat(Utf8.sequenceLength(brokenEuro, 0, 3)).isEqualTo(-2);
  }
}
