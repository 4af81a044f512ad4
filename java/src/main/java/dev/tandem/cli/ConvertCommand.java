package dev.tandem.cli;

import dev.tandem.checkpoint.ModelConverter;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code tandem convert}: Hugging Face model directory to GGUF file and back. */
@Command(name = "convert", mixinStandardHelpOptions = true,
    description = "Convert a Hugging Face model directory to a GGUF file (--out ends in .gguf) or a GGUF file to a"
        + " model directory. Tensors keep their dtype (F32, F16, BF16) and bytes.")
public final class ConvertCommand implements Callable<Integer> {
  @Option(names = "--in", required = true, description = "Model directory or GGUF file.")
  Path in;

  @Option(names = "--out", required = true, description = "GGUF file (*.gguf) or model directory.")
  Path out;

  @Override
  public Integer call() throws Exception {
    long start = System.nanoTime();
    ModelConverter.convert(in, out);
    System.out.printf("wrote %s (%.1f s)%n", out, (System.nanoTime() - start) / 1e9);
    return 0;
  }
}
