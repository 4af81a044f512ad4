package dev.tandem.tokenizer;

import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The chat prompt formats this engine recognises in a model's Jinja {@code chat_template} (it does
 * not run Jinja): Llama 3 ({@code <|start_header_id|>role<|end_header_id|>\n\ncontent<|eot_id|>},
 * with Llama 3.1's dated system header when the template has one) and ChatML
 * ({@code <|im_start|>role\ncontent<|im_end|>\n}, with the template's default system message, as
 * Qwen 2 and SmolLM 2 write it). The rendered text holds the special tokens literally; encode it
 * without adding BOS (the Llama 3 text starts with it).
 */
public final class ChatTemplate {
  /** One chat message: role "system", "user" or "assistant". */
  public record Message(String role, String content) {}

  /** The recognised formats. */
  public enum Format { LLAMA3, CHATML }

  private static final Pattern CHATML_DEFAULT_SYSTEM =
      Pattern.compile("<\\|im_start\\|>system\\\\n([^{}'\"]*?)<\\|im_end\\|>");
  private static final String LLAMA31_DATE = "26 Jul 2024";

  private final Format format;
  private final String bosToken;
  private final boolean datedSystemHeader; // Llama 3.1+: "Cutting Knowledge Date" system block
  private final String defaultSystem; // ChatML: the system message when none is given, or null

  private ChatTemplate(Format format, String bosToken, boolean datedSystemHeader, String defaultSystem) {
    this.format = format;
    this.bosToken = bosToken;
    this.datedSystemHeader = datedSystemHeader;
    this.defaultSystem = defaultSystem;
  }

  /**
   * Recognises a template.
   *
   * @param template the chat_template text; null when the model has none
   * @param bosToken the BOS token's text (Llama 3 templates start with it)
   * @throws IllegalArgumentException when there is no template or it is in neither format
   */
  public static ChatTemplate recognise(String template, String bosToken) {
    if (template == null || template.isBlank()) {
      throw new IllegalArgumentException("the model has no chat_template (tokenizer_config.json or GGUF"
          + " tokenizer.chat_template); give the prompt without --chat");
    }
    if (template.contains("<|start_header_id|>") && template.contains("<|end_header_id|>")
        && template.contains("<|eot_id|>")) {
      return new ChatTemplate(Format.LLAMA3, bosToken == null ? "" : bosToken,
          template.contains("Cutting Knowledge Date"), null);
    }
    if (template.contains("<|im_start|>") && template.contains("<|im_end|>")) {
      Matcher m = CHATML_DEFAULT_SYSTEM.matcher(template);
      return new ChatTemplate(Format.CHATML, "", false, m.find() ? m.group(1).replace("\\n", "\n") : null);
    }
    throw new IllegalArgumentException("the model's chat template is not supported: only the Llama 3 and ChatML"
        + " formats are recognised (it starts: " + template.substring(0, Math.min(80, template.length()))
            .replace("\n", "\\n") + "...); give the prompt without --chat");
  }

  public Format format() {
    return format;
  }

  /** The prompt text for {@code messages}, ending with the assistant's turn header (add_generation_prompt). */
  public String render(List<Message> messages) {
    StringBuilder out = new StringBuilder();
    switch (format) {
      case LLAMA3 -> {
        out.append(bosToken);
        int first = 0;
        if (datedSystemHeader) {
          String system = "";
          if (!messages.isEmpty() && messages.getFirst().role().equals("system")) {
            system = messages.getFirst().content().strip();
            first = 1;
          }
          out.append("<|start_header_id|>system<|end_header_id|>\n\n")
              .append("Cutting Knowledge Date: December 2023\nToday Date: ").append(LLAMA31_DATE).append("\n\n")
              .append(system).append("<|eot_id|>");
        }
        for (Message m : messages.subList(first, messages.size())) {
          out.append("<|start_header_id|>").append(m.role()).append("<|end_header_id|>\n\n")
              .append(m.content().strip()).append("<|eot_id|>");
        }
        out.append("<|start_header_id|>assistant<|end_header_id|>\n\n");
      }
      case CHATML -> {
        if (defaultSystem != null && (messages.isEmpty() || !messages.getFirst().role().equals("system"))) {
          out.append("<|im_start|>system\n").append(defaultSystem).append("<|im_end|>\n");
        }
        for (Message m : messages) {
          out.append("<|im_start|>").append(m.role()).append('\n').append(m.content()).append("<|im_end|>\n");
        }
        out.append("<|im_start|>assistant\n");
      }
    }
    return out.toString();
  }
}
