package dev.tandem.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tandem.tokenizer.BpeTrainer;
import dev.tandem.tokenizer.ByteLevelBpeTokenizer;
import dev.tandem.tokenizer.TokenizerJson;
import dev.tandem.train.data.TextSplit;
import dev.tandem.train.data.WordVocabulary;
import dev.tandem.util.AtomicFiles;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code tandem train tokenizer}: byte-level BPE learnt from the training side of the split only. */
@Command(name = "tokenizer", mixinStandardHelpOptions = true,
    description = "Learn a byte-level BPE tokenizer (tokenizer.json) from the training side of the split, or a"
        + " word-level one (--whole-words).")
public final class TrainTokenizerCommand implements Callable<Integer> {
  @Parameters(arity = "1..*", paramLabel = "FILE", description = "Text files (UTF-8; .gz accepted).")
  List<Path> files;

  @Option(names = "--vocab", defaultValue = "2048", description = "Vocabulary size incl. 256 bytes and <|endoftext|> (default: 2048).")
  int vocab;

  @Option(names = "--out", required = true, description = "Output directory (tokenizer.json).")
  Path out;

  @Option(names = "--segment-bytes", defaultValue = "" + TextSplit.DEFAULT_SEGMENT_BYTES,
      description = "Split unit, as for the models (default: 8192).")
  int segmentBytes;

  @Option(names = "--val-fraction", defaultValue = "" + TextSplit.DEFAULT_VALIDATION_FRACTION,
      description = "Held-out share, as for the models (default: 0.01).")
  double valFraction;

  @Option(names = "--whole-words", description = "A word-level vocabulary instead of BPE: the most frequent words"
      + " of the training text (with their leading space, pieces of \" ?\\S+\"), one token each, up to --vocab in all;"
      + " other pieces fall back to bytes. For tasks whose words must stay whole (tandem data recall).")
  boolean wholeWords;

  @Spec CommandSpec spec;

  @Override
  public Integer call() throws Exception {
    long start = System.nanoTime();
    TextSplit split = TextSplit.of(files, segmentBytes, valFraction);
    Files.createDirectories(out);
    dev.tandem.tokenizer.Tokenizer tokenizer;
    if (wholeWords) {
      if (vocab < 258) throw new IllegalArgumentException("--vocab must be >= 258 (256 bytes, a word, <|endoftext|>)");
      List<String> words = WordVocabulary.learn(split.texts(false), vocab - 257);
      String json = WordVocabulary.tokenizerJson(words);
      AtomicFiles.writeString(out.resolve("tokenizer.json"), json);
      tokenizer = TokenizerJson.parse(json, out.resolve("tokenizer.json").toString());
    } else {
      ByteLevelBpeTokenizer bpe = new BpeTrainer(vocab, List.of("<|endoftext|>")).train(split.texts(false));
      TokenizerJson.save(bpe, out.resolve("tokenizer.json"));
      tokenizer = bpe;
    }
    ObjectMapper json = new ObjectMapper();
    ObjectNode n = json.createObjectNode();
    n.put("recipe", "tokenizer");
    n.put("command", TrainOptions.invocation(spec));
    n.put("vocab_size", tokenizer.vocabSize());
    n.put("kind", wholeWords ? "whole words" : "byte-level BPE");
    n.put("training_bytes", split.bytes(false));
    n.put("split_sha256", split.fingerprint());
    n.put("wall_seconds", (System.nanoTime() - start) / 1e9);
    AtomicFiles.writeString(out.resolve("training.json"), json.writerWithDefaultPrettyPrinter().writeValueAsString(n) + "\n");
    System.err.printf("wrote %s/tokenizer.json: %d tokens learnt from %,d bytes of training text (%.1f s)%n", out,
        tokenizer.vocabSize(), split.bytes(false), (System.nanoTime() - start) / 1e9);
    return 0;
  }
}
