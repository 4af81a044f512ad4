package dev.tandem.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tandem.backend.Backend;
import dev.tandem.backend.BackendProvider;
import dev.tandem.backend.cpu.CpuBackend;
import dev.tandem.checkpoint.LoadedModel;
import dev.tandem.checkpoint.ModelLoader;
import dev.tandem.engine.GenerationRequest;
import dev.tandem.engine.GenerationResult;
import dev.tandem.engine.Engine;
import dev.tandem.engine.EngineBuilder;
import dev.tandem.engine.RequestHandle;
import dev.tandem.sampling.SamplingParams;
import dev.tandem.tokenizer.ChatTemplate;
import dev.tandem.tokenizer.Tokenizer;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code tandem generate}: continue a prompt with one model. */
@Command(name = "generate", mixinStandardHelpOptions = true, description = "Generate text with one model.")
public final class GenerateCommand implements Callable<Integer> {
  @Option(names = "--model", required = true,
      description = "Model directory (config.json, model.safetensors or shards, tokenizer.json) or GGUF file.")
  Path model;

  @Option(names = "--chat", description = "Wrap the prompt in the model's chat template (Llama 3 or ChatML) as a user"
      + " message, ready for the assistant's answer.")
  boolean chat;

  @Option(names = "--system", description = "With --chat: a system message before the user's.")
  String system;

  @ArgGroup(exclusive = true, multiplicity = "1")
  PromptOptions prompt;

  @Option(names = "--max-tokens", defaultValue = "128", description = "New tokens at most (default: 128).")
  int maxTokens;

  @Option(names = "--context", description = "Context length (default: max_position_embeddings, at most 4096).")
  Integer context;

  @Option(names = "--ignore-eos", description = "Keep generating after the end-of-sequence token.")
  boolean ignoreEos;

  @Option(names = "--json", description = "Print one JSON object (token ids, text, timings) instead of streaming.")
  boolean json;

  @Mixin SamplingOptions sampling;
  @Mixin DeviceOptions device;

  @Override
  public Integer call() throws Exception {
    if (maxTokens < 1) throw new IllegalArgumentException("--max-tokens must be >= 1, got " + maxTokens);
    SamplingParams params = sampling.params();
    LoadedModel loaded = ModelLoader.load(model);
    int[] promptTokens = promptTokens(loaded);
    int contextLength = loaded.contextLength(context, EngineBuilder.DEFAULT_CONTEXT_CAP);
    if (promptTokens.length >= contextLength) {
      throw new IllegalArgumentException("the prompt has " + promptTokens.length + " tokens, which leaves no room in the"
          + " context of " + contextLength + " tokens (see --context)");
    }
    int[] stops = ignoreEos ? new int[0] : loaded.defaults().stopTokens();
    GenerationRequest request = new GenerationRequest(promptTokens, maxTokens, params, stops, List.of(), false, 0);

    PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
    boolean ids = loaded.tokenizer() == null;
    try (Backend backend = device.backend();
        Engine engine = EngineBuilder.primary(loaded).backend(backend).context(contextLength).prefillBudget(256).build()) {
      RequestHandle handle = engine.submit(request, (token, drafted, text) -> {
        if (json) return;
        if (ids) {
          if (token >= 0) out.print(token + " ");
        } else {
          out.print(text);  // an id the tokenizer lacks prints as U+FFFD
        }
      });
      while (!handle.isDone()) engine.step();
      GenerationResult result = handle.result().join();
      if (json) {
        out.println(toJson(result, loaded, promptTokens, params, backend.name()));
      } else {
        out.println();
        System.err.printf("[%d prompt tokens, %d generated (%s); prefill %.1f ms; decode %.2f tokens/s; %s]%n",
            promptTokens.length, result.tokens().length, result.finishReason().name().toLowerCase(),
            result.prefillNanos() / 1e6, result.decodeTokensPerSecond(), BackendProvider.describe(backend));
      }
    }
    return 0;
  }

  /** The prompt's ids: given ids as they are; text with BOS as the checkpoint asks, or through the chat template. */
  private int[] promptTokens(LoadedModel loaded) {
    if (system != null && !chat) throw new IllegalArgumentException("--system needs --chat");
    if (prompt.ids != null) {
      if (chat) throw new IllegalArgumentException("--chat needs the prompt as text (--prompt), not --prompt-tokens");
      return prompt.tokens(loaded.tokenizer(), "model " + model);
    }
    if (loaded.tokenizer() == null) {
      throw new IllegalArgumentException("model " + model + " has no tokenizer: give the prompt as --prompt-tokens");
    }
    int[] ids;
    if (chat) {
      Tokenizer t = loaded.tokenizer();
      ChatTemplate template = ChatTemplate.recognise(loaded.defaults().chatTemplate(),
          t.bosId().isPresent() ? t.token(t.bosId().getAsInt()) : null);
      List<ChatTemplate.Message> messages = new ArrayList<>();
      if (system != null) messages.add(new ChatTemplate.Message("system", system));
      messages.add(new ChatTemplate.Message("user", prompt.text));
      ids = t.encode(template.render(messages));
    } else {
      ids = loaded.promptTokens(prompt.text);
    }
    if (ids.length == 0) throw new IllegalArgumentException("the prompt is empty");
    return ids;
  }

  private static String toJson(GenerationResult result, LoadedModel loaded, int[] promptTokens, SamplingParams params,
      String backend) throws Exception {
    ObjectMapper mapper = new ObjectMapper();
    ObjectNode n = mapper.createObjectNode();
    n.put("model", loaded.source().toString());
    n.put("backend", backend);
    n.put("sampling", params.toString());
    n.putPOJO("prompt_tokens", Arrays.stream(promptTokens).boxed().toList());
    n.putPOJO("tokens", Arrays.stream(result.tokens()).boxed().toList());
    if (loaded.tokenizer() != null) {
      n.put("text", loaded.tokenizer().decode(result.tokens()));
    }
    n.put("finish_reason", result.finishReason().name().toLowerCase());
    n.put("prefill_ms", result.prefillNanos() / 1e6);
    n.put("decode_ms", result.decodeNanos() / 1e6);
    n.put("decode_tokens_per_second", result.decodeTokensPerSecond());
    return mapper.writeValueAsString(n);
  }
}
