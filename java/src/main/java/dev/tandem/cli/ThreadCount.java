package dev.tandem.cli;

import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.TypeConversionException;

/**
 * {@code --threads}: 0 (all cores) up to the number of cores the JVM sees. More threads than cores only
 * contend (10,000 threads took 42 s for 5 tokens), so they are refused rather than created.
 */
final class ThreadCount implements ITypeConverter<Integer> {
  @Override
  public Integer convert(String value) {
    int threads = Main.parseInt(value);
    int cores = Runtime.getRuntime().availableProcessors();
    if (threads < 0 || threads > cores) {
      throw new TypeConversionException("'" + value + "' is not between 0 (all cores) and " + cores
          + " (the cores of this machine)");
    }
    return threads;
  }
}
