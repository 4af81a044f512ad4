package dev.tandem.server;

import static dev.tandem.server.ServerFixture.HTTP;
import static dev.tandem.server.ServerFixture.JSON;
import static dev.tandem.server.ServerFixture.KEY;
import static dev.tandem.server.ServerFixture.assertServes;
import static dev.tandem.server.ServerFixture.cli;
import static dev.tandem.server.ServerFixture.get;
import static dev.tandem.server.ServerFixture.metric;
import static dev.tandem.server.ServerFixture.parseSse;
import static dev.tandem.server.ServerFixture.post;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.JsonValue;
import com.openai.core.http.StreamResponse;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.completions.Completion;
import com.openai.models.completions.CompletionCreateParams;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The server on tiny random models, over loopback: the official OpenAI SDK as the client (greedy
 * outputs equal tandem generate's), 32 simultaneous streaming clients (each response equals the same
 * request run alone), and faults (after each the server still answers).
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class ServerTest {
  @TempDir static Path dir;
  static Path primary, drafter;
  static ApiServer server;
  static OpenAIClient sdk;

  @BeforeAll
  static void start() throws Exception {
    Path[] models = ServerFixture.models(dir);
    primary = models[0];
    drafter = models[1];
    server = ServerFixture.start(primary, drafter, 8, 1024, KEY);
    sdk = OpenAIOkHttpClient.builder().baseUrl(server.uri() + "v1").apiKey(KEY).maxRetries(0)
        .timeout(Duration.ofSeconds(60)).build();
  }

  @AfterAll
  static void stop() {
    if (sdk != null) sdk.close();
    if (server != null) server.close();
  }

  private static String generate(String prompt, int maxTokens, boolean chat) throws Exception {
    List<String> args = new ArrayList<>(List.of("generate", "--model", primary.toString(), "--prompt", prompt,
        "--max-tokens", "" + maxTokens, "--greedy", "--json", "--device", "cpu", "--ignore-eos"));
    if (chat) args.add("--chat");
    return JSON.readTree(cli(args.toArray(String[]::new))).get("text").asText();
  }

  @Test
  void sdkCompletionsWholeAndStreamedEqualTandemGenerate() throws Exception {
    String want = generate("hello there", 9, false);
    CompletionCreateParams params = CompletionCreateParams.builder().model("primary").prompt("hello there")
        .maxTokens(9).temperature(0.0).putAdditionalBodyProperty("ignore_eos", JsonValue.from(true)).build();
    Completion whole = sdk.completions().create(params);
    assertThat(whole.choices().getFirst().text()).isEqualTo(want);
    assertThat(whole.usage().orElseThrow().completionTokens()).isEqualTo(9);

    StringBuilder streamed = new StringBuilder();
    String finish = null;
    try (StreamResponse<Completion> s = sdk.completions().createStreaming(params)) {
      for (Completion c : (Iterable<Completion>) s.stream()::iterator) {
        for (var choice : c.choices()) {
          streamed.append(choice.text());
          if (choice._finishReason().isMissing() || choice._finishReason().isNull()) continue;
          finish = choice.finishReason().asString();
        }
      }
    }
    assertThat(streamed.toString()).isEqualTo(want);
    assertThat(finish).isEqualTo("length");
  }

  @Test
  void sdkChatWholeAndStreamedEqualTandemGenerateWithChat() throws Exception {
    String want = generate("hi", 6, true);
    ChatCompletionCreateParams params = ChatCompletionCreateParams.builder().model("primary").addUserMessage("hi")
        .maxCompletionTokens(6).temperature(0.0).putAdditionalBodyProperty("ignore_eos", JsonValue.from(true)).build();
    ChatCompletion whole = sdk.chat().completions().create(params);
    assertThat(whole.choices().getFirst().message().content()).contains(want);
    assertThat(whole.usage().orElseThrow().completionTokens()).isEqualTo(6);

    StringBuilder streamed = new StringBuilder();
    try (StreamResponse<ChatCompletionChunk> s = sdk.chat().completions().createStreaming(params)) {
      for (ChatCompletionChunk c : (Iterable<ChatCompletionChunk>) s.stream()::iterator) {
        for (var choice : c.choices()) choice.delta().content().ifPresent(streamed::append);
      }
    }
    assertThat(streamed.toString()).isEqualTo(want);
  }

  /** Sends a streaming request and returns the whole SSE body. */
  private static CompletableFuture<HttpResponse<String>> stream(String body) {
    return HTTP.sendAsync(HttpRequest.newBuilder(server.uri().resolve("/v1/completions"))
        .header("Authorization", "Bearer " + KEY).timeout(Duration.ofSeconds(90))
        .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
  }

  @Test
  void thirtyTwoSimultaneousStreamsEachEqualTheRequestRunAlone() throws Exception {
    SplittableRandom random = new SplittableRandom(16);
    List<String> bodies = new ArrayList<>();
    for (int i = 0; i < 32; i++) {
      String prompt = i % 3 == 0 ? "\"request " + i + " begins with\""
          : random.ints(1 + random.nextInt(30), 0, 300).boxed().toList().toString();
      String sampling = switch (i % 4) {
        case 0 -> "\"temperature\": 0";
        case 1 -> "\"temperature\": 0.8, \"seed\": " + i;
        case 2 -> "\"temperature\": 1.2, \"top_k\": 20, \"seed\": " + (100 + i);
        default -> "\"temperature\": 0.7, \"top_p\": 0.9, \"seed\": " + (200 + i);
      };
      bodies.add("{\"prompt\": " + prompt + ", \"max_tokens\": " + (1 + random.nextInt(60)) + ", " + sampling
          + ", \"ignore_eos\": " + (i % 2 == 0) + ", \"stream\": true, \"stream_options\": {\"include_usage\": true}}");
    }
    List<CompletableFuture<HttpResponse<String>>> together = new ArrayList<>();
    for (String b : bodies) together.add(stream(b));
    List<ServerFixture.Streamed> concurrent = new ArrayList<>();
    for (var f : together) {
      HttpResponse<String> r = f.get(90, TimeUnit.SECONDS);
      assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
      concurrent.add(parseSse(r.body(), false));
    }
    for (int i = 0; i < bodies.size(); i++) {
      HttpResponse<String> r = stream(bodies.get(i)).get(60, TimeUnit.SECONDS);
      ServerFixture.Streamed alone = parseSse(r.body(), false);
      ServerFixture.Streamed c = concurrent.get(i);
      assertThat(c.done()).isTrue();
      assertThat(c.tokens()).as("request %d: %s", i, bodies.get(i)).isEqualTo(alone.tokens());
      assertThat(c.text()).isEqualTo(alone.text());
      assertThat(c.finishReason()).isEqualTo(alone.finishReason());
      assertThat(c.usage().get("completion_tokens").asInt()).isEqualTo(c.tokens().size());
    }
  }

  @Test
  void benchServeOverHttpSendsTheBenchmarksTraffic() throws Exception {
    Path text = dir.resolve("prompts.txt");
    java.nio.file.Files.writeString(text, "It is a truth universally acknowledged, that a single man in possession of a"
        + " good fortune, must be in want of a wife. However little known the feelings or views of such a man may be.\n"
        .repeat(20));
    JsonNode report = JSON.readTree(cli("bench", "serve", "--url", server.uri().toString(), "--api-key", KEY, "--model",
        primary.toString(), "--prompts", text.toString(), "--requests", "8", "--concurrency", "4", "--max-tokens", "9",
        "--prompt-tokens", "6:12", "--json"));
    JsonNode run = report.get("runs").get(0);
    assertThat(run.get("completed").asInt()).isEqualTo(8);
    assertThat(run.get("total_output_tokens").asInt()).isEqualTo(8 * 9);
    assertThat(run.get("mean_ttft_ms").asDouble()).isPositive();
    assertThat(run.get("mean_itl_ms").asDouble()).isPositive();
    assertThat(run.get("draft_tokens").asInt()).isPositive();
  }

  @Test
  void faultsGetOpenAiErrorsAndTheServerKeepsServing() throws Exception {
    ServerFixture.Reply r = post(server, "/v1/completions", "{\"prompt\": \"x\", ");
    assertThat(r.status()).isEqualTo(400);
    assertThat(r.json().path("error").path("type").asText()).isEqualTo("invalid_request_error");
    assertServes(server);

    r = post(server, "/v1/completions", "{\"prompt\": \"x\", \"temperature\": \"hot\"}");
    assertThat(r.status()).isEqualTo(400);
    assertThat(r.json().path("error").path("param").asText()).isEqualTo("temperature");
    r = post(server, "/v1/completions", "{\"prompt\": \"x\", \"max_tokens\": -3}");
    assertThat(r.status()).isEqualTo(400);
    assertThat(r.json().path("error").path("param").asText()).isEqualTo("max_tokens");
    r = post(server, "/v1/chat/completions", "{\"messages\": \"hello\"}");
    assertThat(r.status()).isEqualTo(400);
    assertThat(r.json().path("error").path("param").asText()).isEqualTo("messages");
    assertServes(server);

    r = post(server, "/v1/completions", "{\"prompt\": \"" + "a".repeat(70 * 1024) + "\"}");
    assertThat(r.status()).isEqualTo(413);
    assertThat(r.json().path("error").path("code").asText()).isEqualTo("request_too_large");
    // Without a Content-Length (chunked): cut while reading.
    HttpResponse<String> chunked = HTTP.send(HttpRequest.newBuilder(server.uri().resolve("/v1/completions"))
        .header("Authorization", "Bearer " + KEY).POST(HttpRequest.BodyPublishers.ofInputStream(
            () -> new java.io.ByteArrayInputStream(("{\"prompt\": \"" + "b".repeat(200 * 1024) + "\"}")
                .getBytes(StandardCharsets.UTF_8)))).build(), HttpResponse.BodyHandlers.ofString());
    assertThat(chunked.statusCode()).as(chunked.body()).isEqualTo(413);
    assertServes(server);

    r = post(server, "/v1/completions", "{\"prompt\": \"x\", \"model\": \"gpt-9\"}");
    assertThat(r.status()).isEqualTo(404);
    assertThat(r.json().path("error").path("code").asText()).isEqualTo("model_not_found");
    assertServes(server);

    List<Integer> longPrompt = new ArrayList<>();
    for (int i = 0; i < 300; i++) longPrompt.add(i % 250);
    r = post(server, "/v1/completions", "{\"prompt\": " + longPrompt + "}");
    assertThat(r.status()).isEqualTo(400);
    assertThat(r.json().path("error").path("code").asText()).isEqualTo("context_length_exceeded");
    assertServes(server);

    HttpResponse<String> noKey = HTTP.send(HttpRequest.newBuilder(server.uri().resolve("/v1/models")).GET().build(),
        HttpResponse.BodyHandlers.ofString());
    assertThat(noKey.statusCode()).isEqualTo(401);
    HttpResponse<String> wrongKey = HTTP.send(HttpRequest.newBuilder(server.uri().resolve("/v1/completions"))
        .header("Authorization", "Bearer nope").POST(HttpRequest.BodyPublishers.ofString("{\"prompt\": \"x\"}")).build(),
        HttpResponse.BodyHandlers.ofString());
    assertThat(wrongKey.statusCode()).isEqualTo(401);
    assertThat(JSON.readTree(wrongKey.body()).path("error").path("code").asText()).isEqualTo("invalid_api_key");
    assertThat(get(server, "/v1/models").json().path("data").get(0).path("id").asText()).isEqualTo("primary");
    assertThat(get(server, "/health").status()).isEqualTo(200);
    assertServes(server);
  }

  @Test
  void aClientThatDisconnectsMidStreamCancelsItsRequest() throws Exception {
    double abortedBefore = metric(server, "tandem:request_success_total", "finished_reason=\"abort\"");
    if (Double.isNaN(abortedBefore)) abortedBefore = 0;
    String body = "{\"prompt\": \"a long one\", \"max_tokens\": 240, \"ignore_eos\": true, \"temperature\": 0,"
        + " \"stream\": true}";
    try (Socket socket = new Socket("127.0.0.1", server.port())) {
      OutputStream out = socket.getOutputStream();
      out.write(("POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + KEY
          + "\r\nContent-Type: application/json\r\nContent-Length: " + body.getBytes(StandardCharsets.UTF_8).length
          + "\r\n\r\n" + body).getBytes(StandardCharsets.UTF_8));
      out.flush();
      InputStream in = socket.getInputStream();
      String seen = "";
      byte[] buffer = new byte[4096];
      while (!seen.contains("token_ids")) {
        int n = in.read(buffer);
        assertThat(n).isPositive();
        seen += new String(buffer, 0, n, StandardCharsets.UTF_8);
      }
    }  // closed mid-stream
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
    while (metric(server, "tandem:num_requests_running") > 0 && System.nanoTime() < deadline) Thread.sleep(20);
    assertThat(metric(server, "tandem:num_requests_running")).isZero();
    double aborted = metric(server, "tandem:request_success_total", "finished_reason=\"abort\"");
    assertThat(aborted).as("the request was cancelled, not run to its end").isEqualTo(abortedBefore + 1);
    assertServes(server);
  }

  @Test
  void metricsHaveVllmNamesUnderTheTandemPrefix() throws Exception {
    ServerFixture.Reply r = post(server, "/v1/completions", "{\"prompt\": \"count me\", \"max_tokens\": 12,"
        + " \"temperature\": 0, \"ignore_eos\": true}");
    assertThat(r.status()).isEqualTo(200);
    String text = get(server, "/metrics").body();
    for (String name : List.of("tandem:num_requests_running", "tandem:num_requests_waiting", "tandem:kv_cache_usage_perc",
        "tandem:prompt_tokens_total", "tandem:generation_tokens_total", "tandem:time_to_first_token_seconds_bucket",
        "tandem:inter_token_latency_seconds_bucket", "tandem:e2e_request_latency_seconds_bucket",
        "tandem:spec_decode_num_drafts_total", "tandem:spec_decode_num_draft_tokens_total",
        "tandem:spec_decode_num_accepted_tokens_total")) {
      assertThat(text).as(name).contains("\n" + name + "{");
    }
    JsonNode usage = r.json().get("usage").get("speculation");
    assertThat(usage.get("draft_tokens").asInt()).isPositive();  // fixed speculation: every round drafts
    assertThat(metric(server, "tandem:generation_tokens_total")).isGreaterThanOrEqualTo(12);
    assertThat(metric(server, "tandem:spec_decode_num_draft_tokens_total")).isGreaterThanOrEqualTo(
        usage.get("draft_tokens").asInt());
  }

  @Test
  void aModelWithoutAChatTemplateGetsAClear400ForChat() throws Exception {
    Path plain = dir.resolve("no-template");
    java.nio.file.Files.createDirectories(plain);
    try (var files = java.nio.file.Files.list(primary)) {
      for (Path f : files.toList()) {
        if (!f.getFileName().toString().equals("tokenizer_config.json")) java.nio.file.Files.copy(f, plain.resolve(f.getFileName()));
      }
    }
    ApiServer noChat = ServerFixture.start(plain, null, 1, 4, KEY);
    try {
      ServerFixture.Reply r = post(noChat, "/v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}");
      assertThat(r.status()).isEqualTo(400);
      assertThat(r.json().path("error").path("param").asText()).isEqualTo("messages");
      assertThat(r.json().path("error").path("message").asText()).contains("chat_template");
      assertThat(get(noChat, "/v1/nothing-here").status()).isEqualTo(404);
      assertServes(noChat);
    } finally {
      noChat.close();
    }
  }

  @Test
  void aBurstPastTheQueueLimitGets429sAndTheServerKeepsServing() throws Exception {
    ApiServer small = ServerFixture.start(primary, null, 1, 2, KEY);
    try {
      int burst = 12;
      CountDownLatch go = new CountDownLatch(1);
      List<CompletableFuture<ServerFixture.Reply>> replies = new ArrayList<>();
      for (int i = 0; i < burst; i++) {
        replies.add(CompletableFuture.supplyAsync(() -> {
          try {
            go.await();
            return post(small, "/v1/completions", "{\"prompt\": \"burst\", \"max_tokens\": 60, \"ignore_eos\": true}");
          } catch (Exception e) {
            throw new IllegalStateException(e);
          }
        }, java.util.concurrent.Executors.newVirtualThreadPerTaskExecutor()));
      }
      go.countDown();
      int ok = 0, refused = 0;
      for (var f : replies) {
        ServerFixture.Reply r = f.get(60, TimeUnit.SECONDS);
        if (r.status() == 200) ok++;
        else {
          assertThat(r.status()).as(r.body()).isEqualTo(429);
          assertThat(r.json().path("error").path("code").asText()).isEqualTo("queue_full");
          refused++;
        }
      }
      assertThat(refused).isPositive();
      assertThat(ok).isGreaterThanOrEqualTo(1);
      assertServes(small);
    } finally {
      small.close();
    }
  }
}
