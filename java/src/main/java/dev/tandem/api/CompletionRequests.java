package dev.tandem.api;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tandem.checkpoint.GenerationDefaults;
import dev.tandem.engine.GenerationRequest;
import dev.tandem.sampling.SamplingParams;
import dev.tandem.tokenizer.ChatTemplate;
import dev.tandem.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.List;

/**
 * Turns the body of an OpenAI {@code /v1/completions} or {@code /v1/chat/completions} request into
 * engine requests, checking every supported field's type and range ({@link ApiError} names the
 * field). Unknown fields are ignored, as OpenAI does. Supported: {@code model}, {@code prompt}
 * (a string, a list of strings, token ids, or a list of token-id lists: one choice each),
 * {@code messages}, {@code max_tokens} / {@code max_completion_tokens}, {@code temperature},
 * {@code top_p}, {@code top_k}, {@code seed}, {@code stop}, {@code n} = 1, {@code stream},
 * {@code stream_options.include_usage}, and the extensions {@code ignore_eos} and {@code speculate}.
 */
public final class CompletionRequests {
  /** OpenAI's default {@code max_tokens} for completions. */
  public static final int DEFAULT_COMPLETION_TOKENS = 16;

  private final Tokenizer tokenizer;         // null: prompts as token ids only, no chat, no stop strings
  private final GenerationDefaults defaults;
  private final int contextLength;
  private final String modelName;
  private final int vocab;

  /** One request body, parsed. */
  public record Parsed(List<GenerationRequest> prompts, boolean chat, boolean stream, boolean includeUsage) {}

  public CompletionRequests(Tokenizer tokenizer, GenerationDefaults defaults, int contextLength, String modelName,
      int vocab) {
    this.tokenizer = tokenizer;
    this.defaults = defaults;
    this.contextLength = contextLength;
    this.modelName = modelName;
    this.vocab = vocab;
  }

  public String modelName() { return modelName; }

  /**
   * @param defaultSeed the seed of a sampled request that gives none (the server draws one; the batch
   *                    runner derives it from the request, so a rerun draws the same tokens)
   */
  public Parsed parse(JsonNode body, boolean chat, long defaultSeed) {
    if (body == null || !body.isObject()) throw ApiError.invalid(null, "the request body must be a JSON object");
    JsonNode model = body.get("model");
    if (model != null && !model.isNull()) {
      if (!model.isTextual()) throw ApiError.invalid("model", "'model' must be a string");
      if (!model.asText().equals(modelName)) {
        throw new ApiError(404, "invalid_request_error", "model", "model_not_found",
            "The model '" + model.asText() + "' does not exist; this server serves '" + modelName + "'");
      }
    }
    int n = intField(body, "n", 1, 1, Integer.MAX_VALUE);
    if (n != 1) throw ApiError.invalid("n", "only n = 1 is supported, got " + n);
    JsonNode logprobs = body.get("logprobs");
    if (logprobs != null && !logprobs.isNull() && !(logprobs.isBoolean() && !logprobs.asBoolean())) {
      throw ApiError.invalid("logprobs", "logprobs are not supported by this server");
    }
    if (body.has("top_logprobs") && !body.get("top_logprobs").isNull()) {
      throw ApiError.invalid("top_logprobs", "logprobs are not supported by this server");
    }
    boolean stream = boolField(body, "stream", false);
    boolean includeUsage = false;
    JsonNode options = body.get("stream_options");
    if (options != null && !options.isNull()) {
      if (!options.isObject()) throw ApiError.invalid("stream_options", "'stream_options' must be an object");
      if (!stream) throw ApiError.invalid("stream_options", "'stream_options' is only allowed with stream: true");
      includeUsage = boolField(options, "include_usage", false);
    }
    float temperature = (float) numberField(body, "temperature", 1.0, 0, 2);
    float topP = (float) numberField(body, "top_p", 1.0, 0, 1);
    if (topP == 0) throw ApiError.invalid("top_p", "'top_p' must be greater than 0");
    int topK = intField(body, "top_k", 0, -1, Integer.MAX_VALUE);
    long seed = defaultSeed;
    JsonNode seedNode = body.get("seed");
    if (seedNode != null && !seedNode.isNull()) {
      if (!seedNode.canConvertToLong() || !seedNode.isIntegralNumber()) throw ApiError.invalid("seed", "'seed' must be an integer");
      seed = seedNode.asLong();
    }
    SamplingParams sampling = new SamplingParams(temperature, Math.max(0, topK), topP, seed);
    List<String> stops = stops(body.get("stop"));
    if (!stops.isEmpty() && tokenizer == null) throw ApiError.invalid("stop", "stop strings need a tokenizer; the model has none");
    boolean ignoreEos = boolField(body, "ignore_eos", false);
    boolean speculate = boolField(body, "speculate", true);
    int[] stopTokens = ignoreEos ? new int[0] : defaults.stopTokens();

    List<int[]> prompts = chat ? List.of(chatPrompt(body.get("messages"))) : prompts(body.get("prompt"));
    Integer maxTokens = null;
    for (String name : new String[] {"max_tokens", "max_completion_tokens"}) {
      JsonNode node = body.get(name);
      if (node != null && !node.isNull()) maxTokens = intField(body, name, 0, 0, Integer.MAX_VALUE);
    }
    List<GenerationRequest> out = new ArrayList<>();
    for (int[] prompt : prompts) {
      if (prompt.length >= contextLength) {
        throw new ApiError(400, "invalid_request_error", chat ? "messages" : "prompt", "context_length_exceeded",
            "This model's maximum context length is " + contextLength + " tokens. However, your prompt has "
                + prompt.length + " tokens, which leaves no room for a new token.");
      }
      int room = contextLength - prompt.length;
      int max = maxTokens != null ? maxTokens : chat ? room : Math.min(DEFAULT_COMPLETION_TOKENS, room);
      out.add(new GenerationRequest(prompt, max, sampling, stopTokens, stops, speculate, 0));
    }
    return new Parsed(out, chat, stream, includeUsage);
  }

  private List<int[]> prompts(JsonNode prompt) {
    if (prompt == null || prompt.isNull()) throw ApiError.invalid("prompt", "'prompt' is required");
    List<int[]> out = new ArrayList<>();
    if (prompt.isTextual()) {
      out.add(encode(prompt.asText(), "prompt"));
    } else if (prompt.isArray() && !prompt.isEmpty() && prompt.get(0).isIntegralNumber()) {
      out.add(ids(prompt));
    } else if (prompt.isArray() && !prompt.isEmpty()) {
      for (JsonNode p : prompt) {
        if (p.isTextual()) out.add(encode(p.asText(), "prompt"));
        else if (p.isArray() && !p.isEmpty()) out.add(ids(p));
        else throw ApiError.invalid("prompt", "'prompt' must be a string, a list of strings, or token ids");
      }
    } else {
      throw ApiError.invalid("prompt", "'prompt' must be a non-empty string, list of strings, or list of token ids");
    }
    return out;
  }

  private int[] ids(JsonNode array) {
    int[] ids = new int[array.size()];
    for (int i = 0; i < ids.length; i++) {
      JsonNode t = array.get(i);
      if (!t.isIntegralNumber() || !t.canConvertToInt() || t.asInt() < 0 || t.asInt() >= vocab) {
        throw ApiError.invalid("prompt", "token ids must be integers in [0, " + vocab + "), got " + t);
      }
      ids[i] = t.asInt();
    }
    return ids;
  }

  private int[] encode(String text, String param) {
    if (tokenizer == null) throw ApiError.invalid(param, "the model has no tokenizer: give the prompt as token ids");
    if (text.isEmpty()) throw ApiError.invalid(param, "the prompt is empty");
    return defaults.promptTokens(tokenizer, text);
  }

  private int[] chatPrompt(JsonNode messages) {
    if (messages == null || !messages.isArray() || messages.isEmpty()) {
      throw ApiError.invalid("messages", "'messages' must be a non-empty list of {role, content} objects");
    }
    if (tokenizer == null) throw ApiError.invalid("messages", "the model has no tokenizer, so it cannot chat");
    ChatTemplate template;
    try {
      template = ChatTemplate.recognise(defaults.chatTemplate(),
          tokenizer.bosId().isPresent() ? tokenizer.token(tokenizer.bosId().getAsInt()) : null);
    } catch (IllegalArgumentException e) {
      throw ApiError.invalid("messages", "this model cannot chat: " + e.getMessage());
    }
    List<ChatTemplate.Message> list = new ArrayList<>();
    for (int i = 0; i < messages.size(); i++) {
      JsonNode m = messages.get(i);
      String where = "messages[" + i + "]";
      if (!m.isObject() || !m.path("role").isTextual()) throw ApiError.invalid(where, where + " needs a string 'role'");
      String role = m.get("role").asText();
      if (!List.of("system", "developer", "user", "assistant").contains(role)) {
        throw ApiError.invalid(where + ".role", "unknown role '" + role + "'");
      }
      list.add(new ChatTemplate.Message(role.equals("developer") ? "system" : role, content(m.get("content"), where)));
    }
    return tokenizer.encode(template.render(list));
  }

  private static String content(JsonNode content, String where) {
    if (content != null && content.isTextual()) return content.asText();
    if (content != null && content.isArray()) {
      StringBuilder text = new StringBuilder();
      for (JsonNode part : content) {
        if (!"text".equals(part.path("type").asText()) || !part.path("text").isTextual()) {
          throw ApiError.invalid(where + ".content", "only text content parts are supported");
        }
        text.append(part.get("text").asText());
      }
      return text.toString();
    }
    throw ApiError.invalid(where + ".content", where + " needs 'content' as a string or a list of text parts");
  }

  private static List<String> stops(JsonNode stop) {
    if (stop == null || stop.isNull()) return List.of();
    List<String> out = new ArrayList<>();
    if (stop.isTextual()) {
      out.add(stop.asText());
    } else if (stop.isArray()) {
      for (JsonNode s : stop) {
        if (!s.isTextual()) throw ApiError.invalid("stop", "'stop' must be a string or a list of strings");
        out.add(s.asText());
      }
    } else {
      throw ApiError.invalid("stop", "'stop' must be a string or a list of strings");
    }
    for (String s : out) if (s.isEmpty()) throw ApiError.invalid("stop", "a stop string must not be empty");
    return out;
  }

  private static boolean boolField(JsonNode body, String name, boolean fallback) {
    JsonNode n = body.get(name);
    if (n == null || n.isNull()) return fallback;
    if (!n.isBoolean()) throw ApiError.invalid(name, "'" + name + "' must be a boolean");
    return n.asBoolean();
  }

  private static int intField(JsonNode body, String name, int fallback, int min, int max) {
    JsonNode n = body.get(name);
    if (n == null || n.isNull()) return fallback;
    if (!n.isIntegralNumber() || !n.canConvertToInt()) throw ApiError.invalid(name, "'" + name + "' must be an integer");
    int v = n.asInt();
    if (v < min || v > max) throw ApiError.invalid(name, "'" + name + "' must be in [" + min + ", " + max + "], got " + v);
    return v;
  }

  private static double numberField(JsonNode body, String name, double fallback, double min, double max) {
    JsonNode n = body.get(name);
    if (n == null || n.isNull()) return fallback;
    if (!n.isNumber()) throw ApiError.invalid(name, "'" + name + "' must be a number");
    double v = n.asDouble();
    if (!(v >= min && v <= max)) throw ApiError.invalid(name, "'" + name + "' must be in [" + min + ", " + max + "], got " + v);
    return v;
  }
}
