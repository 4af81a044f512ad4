package dev.tandem.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class TokenizerStreamingDecoderTest {
  private final ByteLevelBpeTokenizer bytes = ByteLevelBpeTokenizer.bytes(List.of("<|endoftext|>"));

  static String stream(Tokenizer t, int[] ids) {
    StreamingDecoder d = new StreamingDecoder(t);
    StringBuilder out = new StringBuilder();
    for (int id : ids) out.append(d.accept(id));
    out.append(d.finish());
    assertThat(d.hasPending()).isFalse();
    return out.toString();
  }

  @Test
  void holdsBackACharacterSplitOverTokens() {
    StreamingDecoder d = new StreamingDecoder(bytes);
    assertThat(d.accept('a')).isEqualTo("a");
    assertThat(d.accept(0xF0)).isEmpty(); // 😀 = F0 9F 98 80
    assertThat(d.accept(0x9F)).isEmpty();
    assertThat(d.accept(0x98)).isEmpty();
    assertThat(d.hasPending()).isTrue();
    assertThat(d.accept(0x80)).isEqualTo("😀");
    assertThat(d.accept(0xC3)).isEmpty();
    assertThat(d.accept('b')).isEqualTo("\uFFFDb"); // the broken character is replaced once its fate is known
    assertThat(d.accept(0xE2)).isEmpty();
    assertThat(d.accept(256)).isEqualTo("\uFFFD<|endoftext|>");
    assertThat(d.accept(0xE2)).isEmpty();
    assertThat(d.finish()).isEqualTo("\uFFFD");
  }

  @Test
  void concatenationEqualsDecodeOfRandomIds() {
    Random random = new Random(21);
    for (int i = 0; i < 5000; i++) {
      int[] ids = new int[random.nextInt(20)];
      for (int k = 0; k < ids.length; k++) {
        // mostly bytes >= 0x80, to split and break many characters
        ids[k] = random.nextInt(4) == 0 ? random.nextInt(bytes.vocabSize()) : 0x80 + random.nextInt(0x80);
      }
      assertThat(stream(bytes, ids)).isEqualTo(bytes.decode(ids));
    }
  }

  @Test
  void concatenationEqualsDecodeOfEncodedText() {
    ByteLevelBpeTokenizer t = new BpeTrainer(600, List.of("<|endoftext|>")).train(List.of(
        new RandomText(3).text(5000)));
    RandomText random = new RandomText(22);
    for (int i = 0; i < 2000; i++) {
      byte[] text = random.bytes(60);
      int[] ids = t.encode(text);
      assertThat(stream(t, ids)).isEqualTo(t.decode(ids));
    }
  }
}
