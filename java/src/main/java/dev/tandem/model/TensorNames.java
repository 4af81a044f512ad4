package dev.tandem.model;

/** Hugging Face Llama tensor names. */
public final class TensorNames {
  private TensorNames() {}

  public static final String EMBEDDING = "model.embed_tokens.weight";
  public static final String FINAL_NORM = "model.norm.weight";
  public static final String LM_HEAD = "lm_head.weight";

  public static String layer(int layer, String suffix) {
    return "model.layers." + layer + "." + suffix;
  }

  public static String attentionNorm(int l) { return layer(l, "input_layernorm.weight"); }
  public static String mlpNorm(int l) { return layer(l, "post_attention_layernorm.weight"); }
  public static String query(int l) { return layer(l, "self_attn.q_proj.weight"); }
  public static String key(int l) { return layer(l, "self_attn.k_proj.weight"); }
  public static String value(int l) { return layer(l, "self_attn.v_proj.weight"); }
  public static String output(int l) { return layer(l, "self_attn.o_proj.weight"); }
  public static String gate(int l) { return layer(l, "mlp.gate_proj.weight"); }
  public static String up(int l) { return layer(l, "mlp.up_proj.weight"); }
  public static String down(int l) { return layer(l, "mlp.down_proj.weight"); }
  public static String queryBias(int l) { return layer(l, "self_attn.q_proj.bias"); }
  public static String keyBias(int l) { return layer(l, "self_attn.k_proj.bias"); }
  public static String valueBias(int l) { return layer(l, "self_attn.v_proj.bias"); }
}
