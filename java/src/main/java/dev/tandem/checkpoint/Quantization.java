package dev.tandem.checkpoint;

import dev.tandem.io.gguf.GgufTensorType;
import dev.tandem.model.LlamaConfig;
import java.util.Locale;

/**
 * The weight types {@code tandem convert --quantize} writes, tensor by tensor. Vectors (norm gains,
 * biases) stay F32 in every case. {@link #Q8_0}, {@link #Q4_0}, {@link #Q4_K}: every matrix of that
 * type. {@link #Q4_K_M}: llama.cpp's mix of that name: Q6_K for the output projection (the embedding
 * table when they are tied) and for attn_v and ffn_down in the layers llama.cpp gives more bits (the
 * first and last eighth, and every third one between), Q4_K elsewhere.
 *
 * <p>K-quants need rows of a multiple of 256 weights; as llama.cpp, a matrix whose rows are not falls
 * back to a 32-block type: Q4_K to Q4_0 (llama.cpp takes Q5_0, which this engine does not read),
 * Q6_K to Q8_0 (as llama.cpp); a matrix whose rows are not even a multiple of 32 is written as F16.
 */
public enum Quantization {
  Q8_0(7),
  Q4_0(2),
  Q4_K(14),
  Q4_K_M(15);

  private final int fileType; // llama.cpp's general.file_type (LLAMA_FTYPE_MOSTLY_*)

  Quantization(int fileType) {
    this.fileType = fileType;
  }

  public int fileType() {
    return fileType;
  }

  /** The CLI spelling, case-insensitive: Q8_0, Q4_0, Q4_K or Q4_K_M. */
  public static Quantization parse(String s) {
    try {
      return valueOf(s.toUpperCase(Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("--quantize " + s + ": expected Q8_0, Q4_0, Q4_K or Q4_K_M");
    }
  }

  /** The type of matrix {@code ggufName} ({@code [rows][cols]}) of a model of config c. */
  public GgufTensorType typeOf(String ggufName, LlamaConfig c, long cols) {
    GgufTensorType type = switch (this) {
      case Q8_0 -> GgufTensorType.Q8_0;
      case Q4_0 -> GgufTensorType.Q4_0;
      case Q4_K -> GgufTensorType.Q4_K;
      case Q4_K_M -> moreBits(ggufName, c) ? GgufTensorType.Q6_K : GgufTensorType.Q4_K;
    };
    if (cols % type.blockSize() != 0) {
      type = switch (type) {
        case Q4_K -> GgufTensorType.Q4_0;
        case Q6_K -> GgufTensorType.Q8_0;
        default -> type;
      };
    }
    return cols % type.blockSize() == 0 ? type : GgufTensorType.F16;  // rows not even whole blocks of 32
  }

  private static boolean moreBits(String name, LlamaConfig c) {
    if (name.equals("output.weight")) return true;
    if (name.equals("token_embd.weight")) return c.tieWordEmbeddings();
    if (!name.endsWith("attn_v.weight") && !name.endsWith("ffn_down.weight")) return false;
    int layer = Integer.parseInt(name.split("\\.")[1]);
    int n = c.numHiddenLayers();
    return layer < n / 8 || layer >= 7 * n / 8 || (layer - n / 8) % 3 == 2;
  }
}
