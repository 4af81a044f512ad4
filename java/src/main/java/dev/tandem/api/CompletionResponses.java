package dev.tandem.api;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tandem.engine.GenerationResult;
import dev.tandem.speculative.SpeedMetrics;
import java.util.List;

/**
 * OpenAI response objects for engine results: {@code text_completion} and {@code chat.completion}
 * (with their streaming chunks), {@code usage} with the request's speculation figures in an extra
 * {@code speculation} field.
 */
public final class CompletionResponses {
  private CompletionResponses() {}

  private static final JsonNodeFactory JSON = JsonNodeFactory.instance;

  /** A whole response: one choice per result. */
  public static ObjectNode completion(String id, long created, String model, boolean chat, List<GenerationResult> results) {
    ObjectNode root = header(id, created, model, chat ? "chat.completion" : "text_completion");
    ArrayNode choices = root.putArray("choices");
    for (int i = 0; i < results.size(); i++) {
      GenerationResult r = results.get(i);
      ObjectNode c = choices.addObject();
      c.put("index", i);
      if (chat) {
        ObjectNode message = c.putObject("message");
        message.put("role", "assistant");
        message.put("content", r.text());
      } else {
        c.put("text", r.text());
      }
      c.putNull("logprobs");
      c.put("finish_reason", r.finishReason().openAiName());
    }
    root.set("usage", usage(results));
    return root;
  }

  /** A streaming chunk with new text of choice {@code index} (finishReason null while it runs). */
  public static ObjectNode chunk(String id, long created, String model, boolean chat, int index, String text,
      String finishReason, boolean first) {
    ObjectNode root = header(id, created, model, chat ? "chat.completion.chunk" : "text_completion");
    ObjectNode c = root.putArray("choices").addObject();
    c.put("index", index);
    if (chat) {
      ObjectNode delta = c.putObject("delta");
      if (first) delta.put("role", "assistant");
      if (!text.isEmpty() || finishReason == null) delta.put("content", text);
    } else {
      c.put("text", text);
    }
    c.putNull("logprobs");
    if (finishReason == null) c.putNull("finish_reason"); else c.put("finish_reason", finishReason);
    return root;
  }

  /** The last chunk of a stream with {@code stream_options.include_usage}: no choices, the usage. */
  public static ObjectNode usageChunk(String id, long created, String model, boolean chat, List<GenerationResult> results) {
    ObjectNode root = header(id, created, model, chat ? "chat.completion.chunk" : "text_completion");
    root.putArray("choices");
    root.set("usage", usage(results));
    return root;
  }

  /** prompt, completion and total tokens, and the summed speculation figures. */
  public static ObjectNode usage(List<GenerationResult> results) {
    long prompt = 0, completion = 0;
    SpeedMetrics m = new SpeedMetrics();
    for (GenerationResult r : results) {
      prompt += r.promptTokens();
      completion += r.tokens().length;
      m.add(r.metrics());
    }
    ObjectNode u = JSON.objectNode();
    u.put("prompt_tokens", prompt);
    u.put("completion_tokens", completion);
    u.put("total_tokens", prompt + completion);
    ObjectNode s = u.putObject("speculation");
    s.put("rounds", m.rounds);
    s.put("draft_tokens", m.draftTokens);
    s.put("accepted_tokens", m.acceptedTokens);
    s.put("mean_accepted_length", m.meanAcceptedLength());
    return u;
  }

  private static ObjectNode header(String id, long created, String model, String object) {
    ObjectNode root = JSON.objectNode();
    root.put("id", id);
    root.put("object", object);
    root.put("created", created);
    root.put("model", model);
    return root;
  }
}
