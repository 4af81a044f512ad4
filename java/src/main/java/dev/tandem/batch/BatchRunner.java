package dev.tandem.batch;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tandem.api.ApiError;
import dev.tandem.api.CompletionRequests;
import dev.tandem.api.CompletionResponses;
import dev.tandem.engine.Engine;
import dev.tandem.engine.GenerationRequest;
import dev.tandem.engine.GenerationResult;
import dev.tandem.engine.RequestHandle;
import dev.tandem.speculative.SpeedMetrics;
import dev.tandem.train.Progress;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * Offline batch inference in the OpenAI Batch API's line format: each non-blank input line
 * ({@code custom_id}, optional {@code method} and {@code url}, {@code body} with a completion or
 * chat request) gives exactly one output line, in input order ({@code response.body} a completion
 * object with {@code usage} and the speculation figures, or an error naming the input line).
 *
 * <p>Resumable: every output line is appended whole with one write, so a run killed at any moment
 * leaves complete lines and at most one partial last line. Run again with the same output, it drops
 * a partial last line, checks that the lines there are the first ones of this input, and goes on
 * after them. The output does not depend on where a run was interrupted: ids come from the line
 * numbers, {@code created} from the input file's modification time, and a sampled request without a seed draws
 * with a seed derived from its {@code custom_id}.
 */
public final class BatchRunner {
  private static final ObjectMapper JSON = new ObjectMapper();

  private final Engine engine;
  private final CompletionRequests parser;
  private final int window;          // requests submitted ahead of the next line to write

  /** What a run did. */
  public record Summary(int lines, int resumedAfter, int succeeded, int failed, long completionTokens, double seconds,
      SpeedMetrics speculation) {}

  public BatchRunner(Engine engine, CompletionRequests parser, int window) {
    this.engine = engine;
    this.parser = parser;
    this.window = Math.max(1, window);
  }

  /** One input line: its number (1-based), text, and once submitted its engine requests. */
  private static final class Job {
    final int lineNumber;
    final String text;
    String customId;
    boolean chat;
    List<RequestHandle> handles;
    ObjectNode errorLine;   // set when the line is refused before running
    Job(int lineNumber, String text) {
      this.lineNumber = lineNumber;
      this.text = text;
    }
    boolean done() {
      return errorLine != null || handles != null && handles.stream().allMatch(RequestHandle::isDone);
    }
  }

  public Summary run(Path input, Path output, Progress progress) throws IOException {
    List<Job> jobs = readInput(input);
    // The batch was created when its input was written: every line carries that time, so a resumed
    // run writes what an uninterrupted one writes.
    long created = Files.getLastModifiedTime(input).toMillis() / 1000;
    int done = 0;
    if (Files.exists(output)) {
      List<String> existing = completeLines(output);
      done = existing.size();
      if (done > jobs.size()) {
        throw new IOException(output + " holds " + done + " lines but " + input + " only " + jobs.size()
            + " requests: it is not this input's output");
      }
      for (int i = 0; i < done; i++) {
        JsonNode line = JSON.readTree(existing.get(i));
        String want = "batch_req_" + jobs.get(i).lineNumber;
        if (!want.equals(line.path("id").asText())) {
          throw new IOException(output + " line " + (i + 1) + " is " + line.path("id").asText() + ", but the input's request "
              + (i + 1) + " would be " + want + ": it is not this input's output (choose another --output)");
        }
      }
    }
    long start = System.nanoTime();
    int succeeded = 0, failed = 0;
    long completionTokens = 0;
    SpeedMetrics speculation = new SpeedMetrics();
    Set<String> customIds = new HashSet<>();
    for (int i = 0; i < done; i++) {
      String id = customIdOf(jobs.get(i));
      if (id != null) customIds.add(id);
    }
    try (FileChannel out = FileChannel.open(output, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
        StandardOpenOption.APPEND)) {
      int next = done;       // next job to write
      int submitted = done;  // next job to submit
      while (next < jobs.size()) {
        while (submitted < jobs.size() && submitted - next < window) {
          submit(jobs.get(submitted++), customIds, created);
        }
        if (!jobs.get(next).done()) engine.step();
        while (next < jobs.size() && jobs.get(next).done()) {
          Job job = jobs.get(next);
          ObjectNode line = job.errorLine != null ? job.errorLine : resultLine(job, created);
          if (job.errorLine != null || line.path("response").path("status_code").asInt() != 200) failed++;
          else succeeded++;
          if (job.handles != null) {
            for (RequestHandle h : job.handles) {
              GenerationResult r = h.result().join();
              completionTokens += r.tokens().length;
              speculation.add(r.metrics());
            }
          }
          byte[] bytes = (JSON.writeValueAsString(line) + "\n").getBytes(StandardCharsets.UTF_8);
          ByteBuffer buffer = ByteBuffer.wrap(bytes);
          while (buffer.hasRemaining()) out.write(buffer);
          job.handles = null;  // results written: let them go
          next++;
          double seconds = (System.nanoTime() - start) / 1e9;
          int fresh = next - done;
          if (progress != null) {
            progress.update(next, String.format(Locale.ROOT, " accepted %.2f", speculation.meanAcceptedLength()),
                completionTokens / Math.max(seconds, 1e-9), seconds * (jobs.size() - next) / Math.max(fresh, 1));
          }
        }
      }
      out.force(true);
    }
    return new Summary(jobs.size(), done, succeeded, failed, completionTokens, (System.nanoTime() - start) / 1e9,
        speculation);
  }

  /** Requests in an input file: its non-blank lines. */
  public static int countRequests(Path input) throws IOException {
    return readInput(input).size();
  }

  /** The non-blank lines of the input, strictly UTF-8 (a line that is not gets its own error). */
  private static List<Job> readInput(Path input) throws IOException {
    if (!Files.isRegularFile(input)) throw new IOException("input file not found: " + input);
    byte[] bytes = Files.readAllBytes(input);
    List<Job> jobs = new ArrayList<>();
    int lineNumber = 0, startOfLine = 0;
    for (int i = 0; i <= bytes.length; i++) {
      if (i < bytes.length && bytes[i] != '\n') continue;
      lineNumber++;
      int end = i > startOfLine && bytes[i - 1] == '\r' ? i - 1 : i;
      String text;
      try {
        text = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
            .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(bytes, startOfLine, end - startOfLine))
            .toString();
      } catch (CharacterCodingException e) {
        text = null;  // reported as this line's error
      }
      if (text == null || !text.isBlank()) jobs.add(new Job(lineNumber, text));
      startOfLine = i + 1;
    }
    if (jobs.isEmpty()) throw new IOException(input + " holds no requests");
    return jobs;
  }

  /** The complete lines of an earlier run's output; a partial last line (a killed write) is cut off the file. */
  private static List<String> completeLines(Path output) throws IOException {
    byte[] bytes = Files.readAllBytes(output);
    int end = bytes.length;
    while (end > 0 && bytes[end - 1] != '\n') end--;
    if (end < bytes.length) {
      try (FileChannel ch = FileChannel.open(output, StandardOpenOption.WRITE)) {
        ch.truncate(end);
        ch.force(true);
      }
    }
    String text = new String(bytes, 0, end, StandardCharsets.UTF_8);
    List<String> lines = new ArrayList<>();
    for (String line : text.split("\n", -1)) if (!line.isEmpty()) lines.add(line);
    return lines;
  }

  private static String customIdOf(Job job) {
    if (job.text == null) return null;
    try {
      JsonNode n = JSON.readTree(job.text);
      return n.path("custom_id").isTextual() && !n.get("custom_id").asText().isEmpty() ? n.get("custom_id").asText() : null;
    } catch (JsonProcessingException e) {
      return null;
    }
  }

  private void submit(Job job, Set<String> customIds, long created) {
    String where = "line " + job.lineNumber + ": ";
    if (job.text == null) {
      job.errorLine = lineError(job, created, "invalid_json_line", where + "not valid UTF-8");
      return;
    }
    JsonNode entry;
    try {
      entry = JSON.readTree(job.text);
    } catch (JsonProcessingException e) {
      job.errorLine = lineError(job, created, "invalid_json_line", where + "not valid JSON (" + e.getOriginalMessage() + ")");
      return;
    }
    if (!entry.isObject()) {
      job.errorLine = lineError(job, created, "invalid_json_line", where + "a request line must be a JSON object");
      return;
    }
    if (!entry.path("custom_id").isTextual() || entry.get("custom_id").asText().isEmpty()) {
      job.errorLine = lineError(job, created, "missing_custom_id", where + "needs a non-empty string 'custom_id'");
      return;
    }
    job.customId = entry.get("custom_id").asText();
    if (!customIds.add(job.customId)) {
      job.errorLine = lineError(job, created, "duplicate_custom_id", where + "custom_id '" + job.customId + "' appears on an earlier line");
      return;
    }
    String method = entry.path("method").asText("POST");
    String url = entry.path("url").asText(entry.path("body").has("messages") ? "/v1/chat/completions" : "/v1/completions");
    if (!method.equals("POST") || !(url.equals("/v1/completions") || url.equals("/v1/chat/completions"))) {
      job.errorLine = lineError(job, created, "invalid_url", where + "only POST /v1/completions and /v1/chat/completions are"
          + " supported, got " + method + " " + url);
      return;
    }
    job.chat = url.equals("/v1/chat/completions");
    try {
      CompletionRequests.Parsed parsed = parser.parse(entry.get("body"), job.chat, seedOf(job.customId));
      if (parsed.stream()) throw ApiError.invalid("stream", "streaming is not available in a batch");
      List<RequestHandle> handles = new ArrayList<>();
      for (int i = 0; i < parsed.prompts().size(); i++) {
        GenerationRequest r = parsed.prompts().get(i).withSequenceId(i);
        handles.add(engine.submit(r, null));
      }
      job.handles = handles;
    } catch (ApiError e) {
      job.errorLine = responseLine(job, e.status(), prefixed(e, where).toJson(), created);
    } catch (IllegalArgumentException e) {
      job.errorLine = responseLine(job, 400, ApiError.invalid(null, where + e.getMessage()).toJson(), created);
    }
  }

  private static ApiError prefixed(ApiError e, String where) {
    return new ApiError(e.status(), e.type(), e.param(), e.code(), where + e.getMessage());
  }

  /** A seed from the custom_id, so a rerun draws the same tokens for a request without one. */
  private static long seedOf(String customId) {
    long h = 1125899906842597L;
    for (int i = 0; i < customId.length(); i++) h = 31 * h + customId.charAt(i);
    return h & Long.MAX_VALUE;
  }

  private ObjectNode resultLine(Job job, long created) {
    List<GenerationResult> results = new ArrayList<>();
    for (RequestHandle h : job.handles) results.add(h.result().join());
    ObjectNode body = CompletionResponses.completion("cmpl-batch-" + job.lineNumber, created, parser.modelName(),
        job.chat, results);
    return responseLine(job, 200, body, created);
  }

  private static ObjectNode responseLine(Job job, int status, ObjectNode body, long created) {
    ObjectNode line = JSON.createObjectNode();
    line.put("id", "batch_req_" + job.lineNumber);
    line.put("created", created);
    line.put("custom_id", job.customId);
    ObjectNode response = line.putObject("response");
    response.put("status_code", status);
    response.put("request_id", "req_" + job.lineNumber);
    response.set("body", body);
    line.putNull("error");
    return line;
  }

  private static ObjectNode lineError(Job job, long created, String code, String message) {
    ObjectNode line = JSON.createObjectNode();
    line.put("id", "batch_req_" + job.lineNumber);
    line.put("created", created);
    if (job.customId == null) line.putNull("custom_id"); else line.put("custom_id", job.customId);
    line.putNull("response");
    ObjectNode error = line.putObject("error");
    error.put("code", code);
    error.put("message", message);
    return line;
  }
}
