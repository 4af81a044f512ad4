package dev.tandem.cli;

import dev.tandem.train.data.RecallTask;
import dev.tandem.util.AtomicFiles;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code tandem data recall}: associative-recall text, one sequence per line (see {@link RecallTask}). */
@Command(name = "recall", mixinStandardHelpOptions = true,
    description = "Associative-recall text, one sequence per line: a marker, random key-value pairs, then the same"
        + " pairs again from a random starting pair, wrapping around (after the first repeated key every token is"
        + " determined by the context). Deterministic in --seed; held-out text comes from other seeds. Tokenize it"
        + " with a word-level tokenizer (tandem train tokenizer --whole-words), so that every word is one token.")
public final class DataRecallCommand implements Callable<Integer> {
  @picocli.CommandLine.Spec picocli.CommandLine.Model.CommandSpec spec;

  @Option(names = "--seed", required = true, description = "Seed of the text.")
  long seed;

  @Option(names = "--sequences", required = true, description = "Sequences (lines).")
  int sequences;

  @Option(names = "--out", required = true, description = "Output text file (written whole).")
  Path out;

  @Option(names = "--keys", defaultValue = "24", description = "Key vocabulary k0..k(N-1) (default: 24).")
  int keys;

  @Option(names = "--values", defaultValue = "24", description = "Value vocabulary v0..v(N-1) (default: 24).")
  int values;

  @Option(names = "--pairs", defaultValue = "6", description = "Key-value pairs per sequence, or the fewest with"
      + " --max-pairs (default: 6).")
  int pairs;

  @Option(names = "--max-pairs", description = "The most pairs: each sequence draws its count from --pairs..--max-pairs,"
      + " so the repeat's period varies (default: 12; with --pairs alone, that count for every sequence).")
  Integer maxPairs;

  @Option(names = "--length", defaultValue = "96",
      description = "Tokens per sequence with its marker and newline (default: 96; = --seq-len of training).")
  int length;

  @Override
  public Integer call() throws Exception {
    int most = maxPairs != null ? maxPairs : spec.commandLine().getParseResult().hasMatchedOption("--pairs") ? pairs : 12;
    RecallTask.Options o = new RecallTask.Options(keys, values, pairs, most, length);
    List<String> lines = RecallTask.generate(o, seed, sequences);
    StringBuilder text = new StringBuilder();
    for (String line : lines) text.append(line).append('\n');
    AtomicFiles.writeString(out, text.toString());
    System.err.printf("wrote %s: %d sequences of %d tokens (%d to %d pairs of %d keys and %d values), seed %d%n", out,
        sequences, length, o.minPairs(), o.maxPairs(), keys, values, seed);
    return 0;
  }
}
