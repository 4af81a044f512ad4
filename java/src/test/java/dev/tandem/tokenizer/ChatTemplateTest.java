package dev.tandem.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import org.junit.jupiter.api.Test;

/** Recognised chat templates render as the Jinja originals would (expected texts written out by hand). */
class ChatTemplateTest {
  /** Llama 3 Instruct's template (tokenizer_config.json of Meta-Llama-3-8B-Instruct). */
  static final String LLAMA3 = "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
      + "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' %}"
      + "{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
      + "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}";

  /** Qwen 2.5 Instruct's template, the part that matters: the default system message. */
  static final String QWEN = "{%- if messages[0]['role'] == 'system' %}{{- '<|im_start|>system\\n' + messages[0]['content']"
      + " + '<|im_end|>\\n' }}{%- else %}{{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a"
      + " helpful assistant.<|im_end|>\\n' }}{%- endif %}{%- for message in messages %}{{- '<|im_start|>' +"
      + " message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}{%- endfor %}{%- if add_generation_prompt %}"
      + "{{- '<|im_start|>assistant\\n' }}{%- endif %}";

  @Test
  void llama3() {
    ChatTemplate t = ChatTemplate.recognise(LLAMA3, "<|begin_of_text|>");
    assertThat(t.format()).isEqualTo(ChatTemplate.Format.LLAMA3);
    assertThat(t.render(List.of(new ChatTemplate.Message("system", "Be brief."),
        new ChatTemplate.Message("user", " Hi there \n")))).isEqualTo("<|begin_of_text|><|start_header_id|>system"
        + "<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>"
        + "<|start_header_id|>assistant<|end_header_id|>\n\n");
  }

  @Test
  void llama31AddsTheDatedSystemHeader() {
    String template = LLAMA3.replace("{% set loop_messages", "{{- \"Cutting Knowledge Date: December 2023\\n\" }}"
        + "{% set loop_messages");
    ChatTemplate t = ChatTemplate.recognise(template, "<|begin_of_text|>");
    assertThat(t.render(List.of(new ChatTemplate.Message("user", "Hi")))).isEqualTo("<|begin_of_text|>"
        + "<|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024"
        + "\n\n<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
        + "<|start_header_id|>assistant<|end_header_id|>\n\n");
  }

  @Test
  void chatMlWithTheTemplatesDefaultSystemMessage() {
    ChatTemplate t = ChatTemplate.recognise(QWEN, null);
    assertThat(t.format()).isEqualTo(ChatTemplate.Format.CHATML);
    assertThat(t.render(List.of(new ChatTemplate.Message("user", "Hi")))).isEqualTo("<|im_start|>system\nYou are Qwen,"
        + " created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
        + "<|im_start|>assistant\n");
    assertThat(t.render(List.of(new ChatTemplate.Message("system", "S"), new ChatTemplate.Message("user", "Hi"))))
        .isEqualTo("<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  }

  @Test
  void otherTemplatesAreAClearError() {
    assertThatThrownBy(() -> ChatTemplate.recognise("{% for m in messages %}[INST] {{ m.content }} [/INST]{% endfor %}",
        "<s>")).hasMessageContaining("not supported").hasMessageContaining("Llama 3 and ChatML")
        .hasMessageContaining("[INST]");
    assertThatThrownBy(() -> ChatTemplate.recognise(null, null)).hasMessageContaining("no chat_template");
  }
}
