package dev.tandem.server;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tandem.api.ApiError;
import dev.tandem.api.CompletionRequests;
import dev.tandem.engine.Engine;
import dev.tandem.engine.QueueFullException;
import dev.tandem.engine.RequestHandle;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.server.handler.ErrorHandler;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.thread.QueuedThreadPool;

/**
 * The OpenAI-compatible HTTP server on an {@link Engine}: Jetty 12's core handlers (no servlets),
 * routes {@code POST /v1/completions}, {@code POST /v1/chat/completions} (whole or as server-sent
 * events), {@code GET /v1/models}, {@code GET /health}, {@code GET /metrics} (Prometheus) and the
 * playground page at {@code /}. Each request runs on a Jetty thread that submits to the engine and
 * writes what the engine's thread hands it ({@link ResponseStream}).
 *
 * <p>Faults: a body over the limit is a 413, bad JSON or fields a 400 with OpenAI's error object, an
 * unknown model a 404, a full engine queue a 429, a wrong or missing key (with one set) a 401; a
 * streaming client that goes away cancels its request. {@link #shutdown} stops accepting, lets what
 * runs finish within a grace period, then cancels the rest.
 */
public final class ApiServer implements AutoCloseable {
  /**
   * @param host         the address to listen on (127.0.0.1 unless the server should be reachable from elsewhere)
   * @param port         the port (0: any free one, see {@link #port})
   * @param apiKey       the key clients must send as {@code Authorization: Bearer KEY} (null: none)
   * @param maxBodyBytes the largest request body taken (413 above)
   */
  public record Options(String host, int port, String apiKey, long maxBodyBytes) {
    public Options {
      if (maxBodyBytes < 1 || maxBodyBytes > Integer.MAX_VALUE - 8) {
        throw new IllegalArgumentException("the body size limit must be in [1, 2^31 - 9] bytes, got " + maxBodyBytes);
      }
      if (port < 0 || port > 65535) throw new IllegalArgumentException("port must be in [0, 65535], got " + port);
    }
  }

  private static final ObjectMapper JSON = new ObjectMapper();

  private final Engine engine;
  private final CompletionRequests parser;
  private final Options options;
  private final ServerMetrics metrics;
  private final Completions completions;
  private final byte[] playground;
  private final long created = System.currentTimeMillis() / 1000;
  private final Server jetty;
  private final ServerConnector connector;
  final Set<RequestHandle> inFlight = ConcurrentHashMap.newKeySet();
  final Set<ResponseStream> streams = ConcurrentHashMap.newKeySet();   // woken at each engine step's end
  private final AtomicInteger exchanges = new AtomicInteger();   // completion requests being answered
  private volatile boolean draining;

  public ApiServer(Engine engine, CompletionRequests parser, Options options) throws IOException {
    this.engine = engine;
    this.parser = parser;
    this.options = options;
    this.metrics = new ServerMetrics(engine, parser.modelName());
    this.completions = new Completions(engine, parser, metrics, this);
    engine.addListener(new Engine.EngineListener() {
      @Override
      public void onStep(int running, int waiting, int kvUsed, int kvCapacity) {
        for (ResponseStream s : streams) s.stepEnded();
      }
    });
    try (InputStream in = ApiServer.class.getResourceAsStream("playground.html")) {
      if (in == null) throw new IOException("the playground page is missing from the jar");
      playground = in.readAllBytes();
    }
    QueuedThreadPool threads = new QueuedThreadPool(256, 8);
    threads.setName("tandem-http");
    threads.setDaemon(true);
    jetty = new Server(threads);
    connector = new ServerConnector(jetty);
    connector.setHost(options.host());
    connector.setPort(options.port());
    jetty.addConnector(connector);
    ErrorHandler errors = new ErrorHandler();
    errors.setShowStacks(false);
    jetty.setErrorHandler(errors);
    jetty.setHandler(new Routes());
    jetty.setStopTimeout(1000);
  }

  /** Starts listening (and the engine's thread). */
  public void start() throws Exception {
    engine.start();
    jetty.start();
  }

  /** The port it listens on (the chosen one when started with port 0). */
  public int port() {
    return connector.getLocalPort();
  }

  public URI uri() {
    String host = options.host().contains(":") ? "[" + options.host() + "]" : options.host();
    return URI.create("http://" + host + ":" + port() + "/");
  }

  /** The model name clients give. */
  public String modelName() {
    return parser.modelName();
  }

  boolean draining() {
    return draining;
  }

  void exchangeStarted() {
    exchanges.incrementAndGet();
  }

  void exchangeEnded() {
    exchanges.decrementAndGet();
  }

  /**
   * Graceful stop: refuses new connections and requests, waits up to {@code grace} for the requests
   * being answered, cancels what is left (their streams end with finish_reason "abort"), then stops
   * the HTTP server and the engine. Idempotent.
   */
  public synchronized void shutdown(Duration grace) {
    if (!jetty.isRunning()) return;
    draining = true;
    try {
      connector.close();  // no new connections; open ones go on
    } catch (RuntimeException e) {
      // already closed
    }
    long deadline = System.nanoTime() + grace.toNanos();
    waitForExchanges(deadline);
    for (RequestHandle h : inFlight) h.cancel();
    waitForExchanges(System.nanoTime() + TimeUnit.SECONDS.toNanos(5));
    try {
      jetty.stop();
    } catch (Exception e) {
      // stopping anyway
    }
    engine.close();
  }

  private void waitForExchanges(long deadline) {
    while (exchanges.get() > 0 && System.nanoTime() < deadline) {
      try {
        Thread.sleep(20);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      }
    }
  }

  /** Blocks until the HTTP server has stopped. */
  public void join() throws InterruptedException {
    jetty.join();
  }

  @Override
  public void close() {
    shutdown(Duration.ZERO);
  }

  /** The routes: one switch over method and path. */
  private final class Routes extends Handler.Abstract {
    @Override
    public boolean handle(Request request, Response response, Callback callback) {
      String path = Request.getPathInContext(request);
      String method = request.getMethod();
      try {
        switch (path) {
          case "/", "/index.html" -> {
            get(method);
            send(response, callback, 200, "text/html; charset=utf-8", playground);
          }
          case "/health" -> {
            get(method);
            if (draining) throw new ApiError(503, "server_error", null, "shutting_down", "the server is shutting down");
            sendJson(response, callback, 200, JSON.createObjectNode().put("status", "ok"));
          }
          case "/metrics" -> {
            get(method);
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            metrics.write(out);
            send(response, callback, 200, metrics.contentType(), out.toByteArray());
          }
          case "/v1/models" -> {
            get(method);
            authorize(request);
            sendJson(response, callback, 200, models());
          }
          case "/v1/completions", "/v1/chat/completions" -> {
            if (!method.equals("POST")) throw methodNotAllowed(method);
            authorize(request);
            if (draining) throw new ApiError(503, "server_error", null, "shutting_down", "the server is shutting down");
            JsonNode body = readJson(request);
            completions.answer(body, path.equals("/v1/chat/completions"), request, response, callback);
          }
          default -> throw new ApiError(404, "invalid_request_error", null, "not_found",
              "no route " + method + " " + path + "; this server has /v1/completions, /v1/chat/completions,"
                  + " /v1/models, /health, /metrics and the playground at /");
        }
      } catch (ApiError e) {
        sendError(response, callback, e);
      } catch (Exception e) {
        if (response.isCommitted()) callback.failed(e);
        else sendError(response, callback, new ApiError(500, "server_error", null, null, "internal error: " + e));
      }
      return true;
    }
  }

  private static void get(String method) {
    if (!method.equals("GET") && !method.equals("HEAD")) throw methodNotAllowed(method);
  }

  private static ApiError methodNotAllowed(String method) {
    return new ApiError(405, "invalid_request_error", null, "method_not_allowed", "method " + method + " not allowed here");
  }

  private void authorize(Request request) {
    if (options.apiKey() == null) return;
    String header = request.getHeaders().get(HttpHeader.AUTHORIZATION);
    String given = header != null && header.regionMatches(true, 0, "Bearer ", 0, 7) ? header.substring(7).trim() : "";
    if (!MessageDigest.isEqual(given.getBytes(StandardCharsets.UTF_8), options.apiKey().getBytes(StandardCharsets.UTF_8))) {
      throw new ApiError(401, "invalid_request_error", null, "invalid_api_key",
          header == null ? "no API key given: send 'Authorization: Bearer KEY'" : "incorrect API key");
    }
  }

  /** The body as JSON: 413 when over the limit (by its Content-Length or as it is read), 400 when not JSON. */
  private JsonNode readJson(Request request) throws InterruptedException {
    long limit = options.maxBodyBytes();
    long declared = request.getLength();
    if (declared > limit) throw tooLarge(limit);
    byte[] bytes;
    try {
      java.util.concurrent.CompletableFuture<byte[]> body = new java.util.concurrent.CompletableFuture<>();
      Content.Source.asByteArrayAsync(request, (int) limit, org.eclipse.jetty.util.Promise.Invocable.toPromise(body));
      bytes = body.get(60, TimeUnit.SECONDS);
    } catch (ExecutionException e) {
      if (Request.getContentBytesRead(request) >= limit) throw tooLarge(limit);
      throw ApiError.invalid(null, "could not read the request body: " + e.getCause().getMessage());
    } catch (TimeoutException e) {
      throw ApiError.invalid(null, "the request body did not arrive within 60 s");
    }
    if (bytes.length == 0) throw ApiError.invalid(null, "the request body is empty; send a JSON object");
    try {
      return JSON.readTree(bytes);
    } catch (JsonProcessingException e) {
      throw ApiError.invalid(null, "the body is not valid JSON: " + e.getOriginalMessage());
    } catch (IOException e) {
      throw ApiError.invalid(null, "the body is not valid JSON: " + e.getMessage());
    }
  }

  private static ApiError tooLarge(long limit) {
    return new ApiError(413, "invalid_request_error", null, "request_too_large",
        "the request body is larger than this server's limit of " + limit + " bytes");
  }

  private ObjectNode models() {
    ObjectNode root = JSON.createObjectNode();
    root.put("object", "list");
    ArrayNode data = root.putArray("data");
    ObjectNode m = data.addObject();
    m.put("id", parser.modelName());
    m.put("object", "model");
    m.put("created", created);
    m.put("owned_by", "tandem");
    m.put("max_model_len", engine.contextLength());
    return root;
  }

  static void sendJson(Response response, Callback callback, int status, JsonNode body) {
    byte[] bytes;
    try {
      bytes = JSON.writeValueAsBytes(body);
    } catch (JsonProcessingException e) {
      callback.failed(e);
      return;
    }
    send(response, callback, status, "application/json", bytes);
  }

  static void sendError(Response response, Callback callback, ApiError e) {
    if (response.isCommitted()) {
      callback.failed(e);
      return;
    }
    if (e.status() == 401) response.getHeaders().put(HttpHeader.WWW_AUTHENTICATE, "Bearer");
    // The rest of an oversized body is not read: tell the client this connection ends here, so it
    // does not send its next request on it.
    if (e.status() == 413) response.getHeaders().put(HttpHeader.CONNECTION, "close");
    sendJson(response, callback, e.status(), e.toJson());
  }

  private static void send(Response response, Callback callback, int status, String type, byte[] bytes) {
    response.setStatus(status);
    response.getHeaders().put(HttpHeader.CONTENT_TYPE, type);
    response.getHeaders().put(HttpHeader.CONTENT_LENGTH, bytes.length);
    response.write(true, java.nio.ByteBuffer.wrap(bytes), callback);
  }

  /** Turns engine refusals into API errors: a full queue 429, a request the engine cannot run 400. */
  static ApiError refusal(RuntimeException e) {
    if (e instanceof QueueFullException) {
      return new ApiError(429, "rate_limit_exceeded", null, "queue_full", e.getMessage());
    }
    if (e instanceof IllegalStateException) {
      return new ApiError(503, "server_error", null, "shutting_down", e.getMessage());
    }
    return ApiError.invalid(null, e.getMessage());
  }
}
