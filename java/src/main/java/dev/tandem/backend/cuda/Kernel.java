package dev.tandem.backend.cuda;

/**
 * Every kernel the Java side launches: its PTX module ({@code native/<module>.ptx}, built from
 * {@code kernels/<module>.cu}) and its {@code extern "C"} entry name. A test checks each against the
 * committed PTX (the entry exists, and its launcher packs the parameters the entry declares).
 */
enum Kernel {
  EMBED("embed", "embed_bf16"),
  RMSNORM("rmsnorm", "rmsnorm_f32"),
  ROPE("rope", "rope_f32"),
  ROPE_KV_STORE("rope", "rope_kv_store_f32"),
  SWIGLU("swiglu", "swiglu_f32"),
  ADD("add", "add_f32"),
  ADD_BIAS("add", "add_bias_f32"),
  COPY_ROWS("copy", "copy_rows_f32"),
  KV_STORE("kvstore", "kv_store_bf16"),
  ATTENTION_BLOCK("attention", "attention_bf16_block"),
  ATTENTION_DECODE_D64("attention", "attention_bf16_decode_d64"),
  ATTENTION_DECODE_D128("attention", "attention_bf16_decode_d128"),
  ARGMAX("argmax", "argmax_f32"),
  ARGMAX_DRAFTS("argmax", "argmax_f32_drafts"),
  TOKENS_FROM_DRAFTS("speed", "tokens_from_drafts_i32"),
  GREEDY_ACCEPT("speed", "greedy_accept_i32"),
  SAMPLE("sample", "sample_f32"),
  SAMPLE_DRAFTS("sample", "sample_f32_drafts"),
  REJECTION("sample", "rejection_f32"),
  MATMUL_N1("matmul", "matmul_bf16_n1"),
  MATMUL_N2("matmul", "matmul_bf16_n2"),
  MATMUL_N4("matmul", "matmul_bf16_n4"),
  MATMUL_N8("matmul", "matmul_bf16_n8"),
  MATMUL_TILED("matmul", "matmul_bf16_tiled"),
  CONVERT_BF16("matmul", "convert_f32_bf16");

  final String module;
  final String entry;

  Kernel(String module, String entry) {
    this.module = module;
    this.entry = entry;
  }

  /** Classpath resource of the module's compute_80 PTX. */
  String resource() {
    return resource("");
  }

  /** Classpath resource of the module's PTX in a variant folder ({@code ""} or {@code "sm90/"}). */
  String resource(String variant) {
    return "/native/" + variant + module + ".ptx";
  }
}
