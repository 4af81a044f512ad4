package dev.tandem.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tandem.api.ApiError;
import dev.tandem.api.CompletionRequests;
import dev.tandem.api.CompletionResponses;
import dev.tandem.engine.Engine;
import dev.tandem.engine.GenerationResult;
import dev.tandem.engine.QueueFullException;
import dev.tandem.engine.RequestHandle;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.ThreadLocalRandom;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;

/**
 * {@code /v1/completions} and {@code /v1/chat/completions}: submits the parsed prompts (one choice
 * each) and answers with one JSON object, or with server-sent events: a {@code data: {...}} chunk per
 * token, a chunk with the finish reason per choice, the usage chunk with
 * {@code stream_options.include_usage}, then {@code data: [DONE]}.
 *
 * <p>Each token chunk's choice carries two fields OpenAI's schema lacks (clients ignore them):
 * {@code token_ids} (the token's id) and {@code drafted} (whether it was a draft the primary accepted),
 * which the playground colours by. The {@code usage} object carries the request's speculation figures.
 */
final class Completions {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final long POLL_MILLIS = 500;

  private final Engine engine;
  private final CompletionRequests parser;
  private final ServerMetrics metrics;
  private final ApiServer server;

  Completions(Engine engine, CompletionRequests parser, ServerMetrics metrics, ApiServer server) {
    this.engine = engine;
    this.parser = parser;
    this.metrics = metrics;
    this.server = server;
  }

  void answer(JsonNode body, boolean chat, Request request, Response response, Callback callback) throws Exception {
    CompletionRequests.Parsed parsed = parser.parse(body, chat, ThreadLocalRandom.current().nextLong() & Long.MAX_VALUE);
    String id = (chat ? "chatcmpl-" : "cmpl-") + UUID.randomUUID().toString().replace("-", "");
    long created = System.currentTimeMillis() / 1000;
    ResponseStream stream = new ResponseStream();
    List<RequestHandle> handles = new ArrayList<>();
    server.exchangeStarted();
    metrics.follow(stream.served);
    server.streams.add(stream);
    try {
      try {
        for (int i = 0; i < parsed.prompts().size(); i++) {
          handles.add(engine.submit(parsed.prompts().get(i).withSequenceId(i), stream.choice(i)));
        }
      } catch (IllegalArgumentException | IllegalStateException | QueueFullException e) {
        for (RequestHandle h : handles) h.cancel();
        throw ApiServer.refusal(e);
      }
      server.inFlight.addAll(handles);
      request.addFailureListener(failure -> handles.forEach(RequestHandle::cancel));
      if (parsed.stream()) stream(parsed, chat, id, created, stream, handles, response, callback);
      else whole(chat, id, created, handles, response, callback);
    } finally {
      server.inFlight.removeAll(handles);
      metrics.unfollow(stream.served);
      server.streams.remove(stream);
      server.exchangeEnded();
    }
  }

  private void whole(boolean chat, String id, long created, List<RequestHandle> handles, Response response,
      Callback callback) throws InterruptedException {
    List<GenerationResult> results = new ArrayList<>();
    for (RequestHandle h : handles) {
      try {
        results.add(h.result().get());
      } catch (java.util.concurrent.ExecutionException e) {
        throw new ApiError(500, "server_error", null, null, "the engine failed: " + e.getCause().getMessage());
      }
    }
    ApiServer.sendJson(response, callback, 200, CompletionResponses.completion(id, created, parser.modelName(), chat, results));
  }

  private void stream(CompletionRequests.Parsed parsed, boolean chat, String id, long created, ResponseStream stream,
      List<RequestHandle> handles, Response response, Callback callback) throws InterruptedException {
    response.setStatus(200);
    response.getHeaders().put(HttpHeader.CONTENT_TYPE, "text/event-stream; charset=utf-8");
    response.getHeaders().put(HttpHeader.CACHE_CONTROL, "no-cache");
    response.getHeaders().put("X-Accel-Buffering", "no");
    int choices = handles.size();
    GenerationResult[] results = new GenerationResult[choices];
    boolean[] started = new boolean[choices];
    int finished = 0;
    String model = parser.modelName();
    List<ResponseStream.Event> events = new ArrayList<>();
    StringBuilder out = new StringBuilder();
    OutputStream sink = Content.Sink.asOutputStream(response);
    try {
      while (finished < choices) {
        events.clear();
        stream.take(events, POLL_MILLIS);
        if (events.isEmpty()) {
          for (RequestHandle h : handles) {
            if (h.result().isCompletedExceptionally()) {
              throw new IOException("the engine failed; the stream ends without [DONE]");
            }
          }
          continue;
        }
        out.setLength(0);
        for (ResponseStream.Event e : events) {
          int i = e.index();
          if (e instanceof ResponseStream.Token t) {
            ObjectNode chunk = CompletionResponses.chunk(id, created, model, chat, i, t.text(), null, !started[i]);
            started[i] = true;
            ObjectNode choice = (ObjectNode) chunk.get("choices").get(0);
            if (t.id() >= 0) {
              choice.putArray("token_ids").add(t.id());
              choice.putArray("drafted").add(t.drafted());
            }
            event(out, chunk);
          } else if (e instanceof ResponseStream.Finish f) {
            results[i] = f.result();
            finished++;
            event(out, CompletionResponses.chunk(id, created, model, chat, i, "", f.result().finishReason().openAiName(),
                !started[i]));
            started[i] = true;
          }
        }
        if (finished == choices && parsed.includeUsage()) {
          event(out, CompletionResponses.usageChunk(id, created, model, chat, Arrays.asList(results)));
        }
        if (finished == choices) out.append("data: [DONE]\n\n");
        sink.write(out.toString().getBytes(StandardCharsets.UTF_8));
        sink.flush();
      }
      sink.close();
      callback.succeeded();
    } catch (IOException e) {
      // The client went away (or the engine failed): free the slots at the next step.
      for (RequestHandle h : handles) h.cancel();
      callback.failed(e);
    }
  }

  private static void event(StringBuilder out, ObjectNode chunk) {
    try {
      out.append("data: ").append(JSON.writeValueAsString(chunk)).append("\n\n");
    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }
}
