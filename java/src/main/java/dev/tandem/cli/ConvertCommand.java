package dev.tandem.cli;

import dev.tandem.checkpoint.ModelConverter;
import dev.tandem.checkpoint.Quantization;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code tandem convert}: Hugging Face model directory to GGUF file and back. */
@Command(name = "convert", mixinStandardHelpOptions = true,
    description = "Convert a Hugging Face model directory to a GGUF file (--out ends in .gguf) or a GGUF file to a"
        + " model directory. Tensors keep their dtype (F32, F16, BF16) and bytes unless --quantize says otherwise.")
public final class ConvertCommand implements Callable<Integer> {
  @Option(names = "--in", required = true, description = "Model directory or GGUF file.")
  Path in;

  @Option(names = "--out", required = true, description = "GGUF file (*.gguf) or model directory.")
  Path out;

  @Option(names = "--quantize", description = "Directory to GGUF only: write the weight matrices as Q8_0, Q4_0, Q4_K"
      + " or Q4_K_M (Q4_K with Q6_K for the output, and attn_v / ffn_down in some layers); llama.cpp's block"
      + " layouts, a simpler K-quant scale search. Rows not a multiple of 256 fall back to Q4_0 / Q8_0.")
  String quantize;

  @Override
  public Integer call() throws Exception {
    long start = System.nanoTime();
    if (quantize != null) {
      Quantization q = Quantization.parse(quantize);
      if (!java.nio.file.Files.isDirectory(in) || !out.getFileName().toString().endsWith(".gguf")) {
        throw new IllegalArgumentException("--quantize converts a model directory to a .gguf file; got --in " + in
            + " and --out " + out);
      }
      ModelConverter.toGguf(in, out, q);
      System.out.printf("wrote %s, %s (%.1f s)%n", out, q, (System.nanoTime() - start) / 1e9);
      return 0;
    }
    ModelConverter.convert(in, out);
    System.out.printf("wrote %s (%.1f s)%n", out, (System.nanoTime() - start) / 1e9);
    return 0;
  }
}
