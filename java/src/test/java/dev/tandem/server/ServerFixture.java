package dev.tandem.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tandem.api.CompletionRequests;
import dev.tandem.backend.cpu.CpuBackend;
import dev.tandem.checkpoint.LoadedModel;
import dev.tandem.checkpoint.ModelLoader;
import dev.tandem.cli.Main;
import dev.tandem.engine.Engine;
import dev.tandem.engine.EngineBuilder;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * Tiny random models made with the CLI (a primary with a ChatML chat template, a small drafter) and
 * servers on them at random loopback ports, plus the HTTP and SSE helpers the server tests share.
 */
final class ServerFixture {
  static final ObjectMapper JSON = new ObjectMapper();
  static final String KEY = "test-key";
  static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
      .connectTimeout(Duration.ofSeconds(5)).build();

  private ServerFixture() {}

  /** Runs a CLI command in-process; fails with its output when it does not exit 0. */
  static String cli(String... args) {
    PrintStream oldOut = System.out, oldErr = System.err;
    ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
    int exit;
    synchronized (ServerFixture.class) {
      try {
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        exit = Main.commandLine().execute(args);
      } finally {
        System.setOut(oldOut);
        System.setErr(oldErr);
      }
    }
    assertThat(exit).as(String.join(" ", args) + "\n" + err.toString(StandardCharsets.UTF_8)).isZero();
    return out.toString(StandardCharsets.UTF_8);
  }

  /** The models: [primary (with a ChatML template), drafter]. */
  static Path[] models(Path dir) throws Exception {
    return models(dir, 256);
  }

  /** The models with a context of {@code positions}. */
  static Path[] models(Path dir, int positions) throws Exception {
    Path primary = dir.resolve("primary"), drafter = dir.resolve("drafter");
    cli("init", "--config", config(dir, "p", 64, 3, 300, positions).toString(), "--out", primary.toString(), "--seed", "3");
    cli("init", "--config", config(dir, "d", 16, 2, 300, positions).toString(), "--out", drafter.toString(), "--tokenizer",
        primary.resolve("tokenizer.json").toString());
    Files.writeString(primary.resolve("tokenizer_config.json"), "{\"chat_template\": "
        + "\"{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\\\n' + message['content'] + "
        + "'<|im_end|>' + '\\\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\\\n' }}{% endif %}\"}");
    return new Path[] {primary, drafter};
  }

  private static Path config(Path dir, String name, int hidden, int layers, int vocab, int positions) throws Exception {
    Path file = dir.resolve(name + ".json");
    Files.writeString(file, """
        {"vocab_size": %d, "hidden_size": %d, "intermediate_size": %d, "num_hidden_layers": %d,
         "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": %d}"""
        .formatted(vocab, hidden, hidden * 2, layers, positions));
    return file;
  }

  /**
   * A started server on a random port: the primary with {@code drafter} (fixed speculation, gamma 3,
   * so rounds draft), {@code slots} requests at once, {@code maxQueue} waiting.
   */
  static ApiServer start(Path primaryDir, Path drafter, int slots, int maxQueue, String apiKey) throws Exception {
    LoadedModel primary = ModelLoader.load(primaryDir);
    Engine engine = EngineBuilder.primary(primary).drafter(drafter).gamma(3).fixedSpeculation().slots(slots)
        .maxWaiting(maxQueue).backend(CpuBackend.fast(1)).build();
    CompletionRequests parser = new CompletionRequests(primary.tokenizer(), primary.defaults(), engine.contextLength(),
        "primary", primary.weights().config().vocabSize());
    ApiServer server = new ApiServer(engine, parser, new ApiServer.Options("127.0.0.1", 0, apiKey, 64 * 1024));
    server.start();
    return server;
  }

  record Reply(int status, String body) {
    JsonNode json() throws Exception {
      return JSON.readTree(body);
    }
  }

  static Reply post(ApiServer server, String path, String body) throws Exception {
    HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(server.uri().resolve(path))
        .header("Authorization", "Bearer " + KEY).header("Content-Type", "application/json")
        .timeout(Duration.ofSeconds(60)).POST(HttpRequest.BodyPublishers.ofString(body)).build(),
        HttpResponse.BodyHandlers.ofString());
    return new Reply(r.statusCode(), r.body());
  }

  static Reply get(ApiServer server, String path) throws Exception {
    HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(server.uri().resolve(path))
        .header("Authorization", "Bearer " + KEY).timeout(Duration.ofSeconds(30)).GET().build(),
        HttpResponse.BodyHandlers.ofString());
    return new Reply(r.statusCode(), r.body());
  }

  /** A streamed completion's content: every choice-0 chunk's text and token ids, the finish reason, the usage. */
  record Streamed(String text, List<Integer> tokens, List<Boolean> drafted, String finishReason, JsonNode usage,
      boolean done) {}

  /** Parses a whole SSE body ({@code data: {...}} events, then {@code data: [DONE]}). */
  static Streamed parseSse(String body, boolean chat) throws Exception {
    StringBuilder text = new StringBuilder();
    List<Integer> tokens = new ArrayList<>();
    List<Boolean> drafted = new ArrayList<>();
    String finish = null;
    JsonNode usage = null;
    boolean done = false;
    for (String event : body.split("\n\n")) {
      if (event.isBlank()) continue;
      assertThat(event).startsWith("data: ");
      assertThat(done).as("nothing after [DONE]").isFalse();
      String data = event.substring(6);
      if (data.equals("[DONE]")) {
        done = true;
        continue;
      }
      JsonNode chunk = JSON.readTree(data);
      if (chunk.has("usage") && !chunk.get("usage").isNull()) usage = chunk.get("usage");
      for (JsonNode c : chunk.get("choices")) {
        text.append(chat ? c.path("delta").path("content").asText("") : c.path("text").asText(""));
        for (JsonNode t : c.path("token_ids")) tokens.add(t.asInt());
        for (JsonNode d : c.path("drafted")) drafted.add(d.asBoolean());
        if (!c.path("finish_reason").isNull() && c.has("finish_reason")) finish = c.get("finish_reason").asText();
      }
    }
    return new Streamed(text.toString(), tokens, drafted, finish, usage, done);
  }

  /** A metric's value in /metrics: the first line of that name whose labels contain {@code label} (NaN: none). */
  static double metric(ApiServer server, String name, String label) throws Exception {
    for (String line : get(server, "/metrics").body().split("\n")) {
      if ((line.startsWith(name + " ") || line.startsWith(name + "{")) && line.contains(label)) {
        return Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
      }
    }
    return Double.NaN;
  }

  static double metric(ApiServer server, String name) throws Exception {
    return metric(server, name, "");
  }

  /** The server still answers a small completion correctly. */
  static void assertServes(ApiServer server) throws Exception {
    Reply r = post(server, "/v1/completions", "{\"prompt\": \"still there\", \"max_tokens\": 3, \"temperature\": 0,"
        + " \"ignore_eos\": true}");
    assertThat(r.status()).as(r.body()).isEqualTo(200);
    assertThat(r.json().path("usage").path("completion_tokens").asInt()).isEqualTo(3);
  }

  static URI base(ApiServer server) {
    return server.uri();
  }
}
