package dev.tandem.benchmark;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tandem.engine.GenerationRequest;
import dev.tandem.sampling.SamplingParams;
import dev.tandem.speculative.SpeedMetrics;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;

/**
 * The serving benchmark's requests to an OpenAI-compatible server ({@code tandem serve}) over HTTP:
 * each request is a streaming {@code /v1/completions} call with the prompt as token ids, so TTFT and
 * inter-token latency are measured here, at the client, from the arrival of each server-sent event.
 * Token counts come from each chunk's {@code token_ids} (tandem's extension) and the speculation
 * figures from the final usage chunk.
 */
public final class HttpTarget implements ServeBenchmark.Target {
  private static final ObjectMapper JSON = new ObjectMapper();

  private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
      .connectTimeout(Duration.ofSeconds(10)).build();
  private final URI completions;
  private final String apiKey;
  private final String model;
  private final java.util.concurrent.atomic.AtomicInteger retries = new java.util.concurrent.atomic.AtomicInteger();

  /**
   * @param base   the server's address, e.g. http://127.0.0.1:8000 (with or without a trailing /v1)
   * @param apiKey the key to send (null: none)
   */
  public HttpTarget(URI base, String apiKey) throws IOException, InterruptedException {
    String root = base.toString().replaceAll("/+$", "").replaceAll("/v1$", "");
    this.completions = URI.create(root + "/v1/completions");
    this.apiKey = apiKey;
    HttpRequest.Builder models = HttpRequest.newBuilder(URI.create(root + "/v1/models")).timeout(Duration.ofSeconds(30));
    if (apiKey != null) models.header("Authorization", "Bearer " + apiKey);
    HttpResponse<String> r;
    try {
      r = http.send(models.build(), HttpResponse.BodyHandlers.ofString());
    } catch (IOException e) {
      throw new IOException("no server answers at " + root + " (" + e.getMessage() + "); start one with tandem serve", e);
    }
    if (r.statusCode() != 200) throw new IOException("GET " + root + "/v1/models: HTTP " + r.statusCode() + " " + r.body());
    this.model = JSON.readTree(r.body()).path("data").path(0).path("id").asText();
  }

  /** Requests sent again because their connection closed before any response byte came (see {@link #run}). */
  public int retries() {
    return retries.get();
  }

  /** The model the server serves. */
  public String model() {
    return model;
  }

  /** The request body for an engine request (greedy or sampled, EOS ignored unless the request stops on tokens). */
  static ObjectNode body(GenerationRequest request, String model) {
    ObjectNode b = JSON.createObjectNode();
    b.put("model", model);
    var prompt = b.putArray("prompt");
    for (int t : request.prompt()) prompt.add(t);
    b.put("max_tokens", request.maxTokens());
    SamplingParams s = request.sampling();
    b.put("temperature", s.isGreedy() ? 0 : s.temperature());
    if (!s.isGreedy()) {
      b.put("top_p", s.topP());
      b.put("top_k", s.topK());
      b.put("seed", s.seed());
    }
    b.put("ignore_eos", request.stopTokens().length == 0);
    b.put("speculate", request.speculate());
    b.put("stream", true);
    b.putObject("stream_options").put("include_usage", true);
    return b;
  }

  @Override
  public CompletableFuture<ServeBenchmark.Outcome> send(GenerationRequest request, ServeBenchmark.TokenTimes onTokens) {
    CompletableFuture<ServeBenchmark.Outcome> result = new CompletableFuture<>();
    Thread.ofVirtual().name("bench-http").start(() -> {
      try {
        result.complete(run(request, onTokens));
      } catch (Exception e) {
        result.completeExceptionally(e);
      }
    });
    return result;
  }

  private ServeBenchmark.Outcome run(GenerationRequest request, ServeBenchmark.TokenTimes onTokens)
      throws IOException, InterruptedException {
    HttpRequest.Builder b = HttpRequest.newBuilder(completions).timeout(Duration.ofMinutes(30))
        .header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(body(request, model))));
    if (apiKey != null) b.header("Authorization", "Bearer " + apiKey);
    HttpResponse<InputStream> r;
    try {
      r = http.send(b.build(), HttpResponse.BodyHandlers.ofInputStream());
    } catch (IOException e) {
      // A kept-alive connection that closed before the response began (the JDK client then fails with
      // "header parser received no bytes"; it does not resend a POST itself): send once more on a
      // fresh connection, and count it.
      retries.incrementAndGet();
      r = http.send(b.build(), HttpResponse.BodyHandlers.ofInputStream());
    }
    try (BufferedReader in = new BufferedReader(new InputStreamReader(r.body(), StandardCharsets.UTF_8))) {
      if (r.statusCode() != 200) {
        StringBuilder text = new StringBuilder();
        for (String line; (line = in.readLine()) != null; ) text.append(line);
        throw new IOException("HTTP " + r.statusCode() + ": " + text);
      }
      JsonNode usage = null;
      boolean done = false;
      for (String line; (line = in.readLine()) != null; ) {
        if (!line.startsWith("data: ")) continue;
        String data = line.substring(6);
        if (data.equals("[DONE]")) {
          done = true;
          // Read the body to its end, so the connection goes back to the pool cleanly for the next request.
          while (in.readLine() != null) {
            // nothing follows [DONE]
          }
          break;
        }
        long now = System.nanoTime();
        JsonNode chunk = JSON.readTree(data);
        int tokens = 0;
        for (JsonNode c : chunk.path("choices")) tokens += c.path("token_ids").size();
        if (tokens > 0) onTokens.arrived(tokens, now);
        if (chunk.hasNonNull("usage")) usage = chunk.get("usage");
      }
      if (!done || usage == null) throw new IOException("the stream ended without its usage and [DONE]");
      SpeedMetrics m = new SpeedMetrics();
      JsonNode spec = usage.path("speculation");
      long rounds = spec.path("rounds").asLong(), accepted = spec.path("accepted_tokens").asLong();
      m.rounds = rounds;
      m.draftTokens = spec.path("draft_tokens").asLong();
      m.acceptedTokens = accepted;
      return new ServeBenchmark.Outcome(usage.path("prompt_tokens").asInt(), usage.path("completion_tokens").asInt(), m);
    }
  }
}
