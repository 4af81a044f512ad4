package dev.tandem.benchmark;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tandem.engine.GenerationRequest;
import dev.tandem.speculative.SpeedMetrics;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;

/**
 * The serving benchmark: N requests sent to a {@link Target} (the engine in-process, or a server over
 * HTTP) by a closed loop of C concurrent clients or as Poisson arrivals at a rate, dispatched as they
 * come (continuous batching) or in static batches (a batch starts when the previous one has finished:
 * the pre-engine way), and the
 * figures vLLM's serving benchmark reports, under its JSON names: request and output-token
 * throughput, TTFT, TPOT (time per output token after the first) and ITL (the gaps between streamed
 * chunks: tokens that arrive together, as a verification round's do, form one chunk), mean, median and
 * p99, plus the mean accepted length.
 */
public final class ServeBenchmark {
  /** Where requests go: submit one, get its stream of token arrival times and its speculation counters. */
  public interface Target {
    /** Runs one request; {@code onTokens} gets (tokens, time in ns) for each streamed chunk. */
    CompletableFuture<Outcome> send(GenerationRequest request, TokenTimes onTokens);
  }

  /** Receives a chunk of tokens as it arrives. */
  @FunctionalInterface
  public interface TokenTimes {
    void arrived(int tokens, long nanos);
  }

  /** What one request brought back. */
  public record Outcome(int promptTokens, int completionTokens, SpeedMetrics speculation) {}

  /** How requests arrive: a closed loop of clients, or Poisson arrivals at a rate. */
  public enum Mode { CLOSED_LOOP, POISSON }

  private static final long CHUNK_NANOS = 200_000;  // tokens closer than this arrived together

  /** One request's record. */
  private static final class Record {
    long sent;          // when the client sent it (its arrival)
    long firstToken;
    long last;
    final List<Long> chunkGaps = new ArrayList<>();
    int tokens;
    Outcome outcome;
  }

  /**
   * Sends {@code requests} to {@code target}; {@code level} is the concurrency (closed loop) or the
   * rate in requests per second (Poisson, drawn with {@code seed}). With {@code staticBatches}, the
   * requests are dispatched in static batches of at most {@code batchSize}: a batch starts when the
   * previous one has finished entirely and takes the requests that have arrived by then (a closed loop's
   * clients send the next batch together); times still count from each request's arrival.
   */
  public static ObjectNode run(Target target, List<GenerationRequest> requests, Mode mode, double level,
      boolean staticBatches, int batchSize, long seed) throws InterruptedException {
    int n = requests.size();
    Record[] records = new Record[n];
    ConcurrentLinkedQueue<Throwable> failures = new ConcurrentLinkedQueue<>();
    long start = System.nanoTime();
    long[] arrival = new long[n];  // Poisson: planned arrival times
    SplittableRandom random = new SplittableRandom(seed);
    long t = start;
    for (int i = 0; i < n; i++) {
      if (mode == Mode.POISSON) t += (long) (-Math.log(1 - random.nextDouble()) / level * 1e9);
      arrival[i] = t;
    }
    int inFlight = mode == Mode.CLOSED_LOOP ? (int) level : Integer.MAX_VALUE;
    int batch = staticBatches ? (mode == Mode.CLOSED_LOOP ? (int) level : batchSize) : Integer.MAX_VALUE;
    Semaphore slots = new Semaphore(Math.min(inFlight, n));
    List<CompletableFuture<Outcome>> futures = new ArrayList<>();
    List<CompletableFuture<Outcome>> current = new ArrayList<>();  // the running static batch
    for (int i = 0; i < n; ) {
      if (staticBatches) {
        CompletableFuture.allOf(current.toArray(CompletableFuture[]::new)).exceptionally(e -> null).join();
        current.clear();
        if (mode == Mode.POISSON) sleepUntil(arrival[i]);
        int end = i;
        while (end < n && end - i < batch && (mode != Mode.POISSON || arrival[end] <= System.nanoTime())) end++;
        for (int j = i; j < end; j++) {
          long sent = mode == Mode.POISSON ? arrival[j] : System.nanoTime();
          current.add(send(target, requests.get(j), records, j, sent, failures, null));
        }
        futures.addAll(current);
        i = end;
      } else {
        if (mode == Mode.POISSON) sleepUntil(arrival[i]);
        slots.acquire();
        futures.add(send(target, requests.get(i), records, i, System.nanoTime(), failures, slots));
        i++;
      }
    }
    for (CompletableFuture<Outcome> f : futures) {
      try {
        f.join();
      } catch (RuntimeException e) {
        // counted in failures
      }
    }
    double seconds = (System.nanoTime() - start) / 1e9;
    if (!failures.isEmpty()) {
      throw new IllegalStateException(failures.size() + " of " + n + " requests failed; the first: "
          + failures.peek().getMessage(), failures.peek());
    }
    return report(records, seconds);
  }

  private static void sleepUntil(long nanos) throws InterruptedException {
    long wait = nanos - System.nanoTime();
    if (wait > 0) TimeUnit.NANOSECONDS.sleep(wait);
  }

  private static CompletableFuture<Outcome> send(Target target, GenerationRequest request, Record[] records, int i,
      long sent, ConcurrentLinkedQueue<Throwable> failures, Semaphore slots) {
    Record r = records[i] = new Record();
    r.sent = sent;
    CompletableFuture<Outcome> f = target.send(request, (tokens, nanos) -> {
      synchronized (r) {
        if (r.tokens == 0) r.firstToken = nanos;
        else if (nanos - r.last > CHUNK_NANOS) r.chunkGaps.add(nanos - r.last);
        if (r.tokens == 0 || nanos - r.last > CHUNK_NANOS) r.last = nanos;
        r.tokens += tokens;
      }
    });
    return f.whenComplete((o, e) -> {
      synchronized (r) {
        r.outcome = o;
        if (e != null) failures.add(e);
        if (r.tokens == 0) r.last = System.nanoTime();  // nothing streamed: the end is the answer's arrival
      }
      if (slots != null) slots.release();
    });
  }

  private static ObjectNode report(Record[] records, double seconds) {
    int n = records.length;
    long output = 0, input = 0;
    double[] ttft = new double[n], tpot = new double[n];
    List<Double> itl = new ArrayList<>();
    SpeedMetrics spec = new SpeedMetrics();
    int tpotCount = 0;
    for (int i = 0; i < n; i++) {
      Record r = records[i];
      output += r.outcome.completionTokens();
      input += r.outcome.promptTokens();
      spec.add(r.outcome.speculation());
      ttft[i] = (r.firstToken - r.sent) / 1e6;
      if (r.outcome.completionTokens() > 1) {
        tpot[tpotCount++] = (r.last - r.firstToken) / 1e6 / (r.outcome.completionTokens() - 1);
      }
      for (long g : r.chunkGaps) itl.add(g / 1e6);
    }
    ObjectNode o = JsonNodeFactory.instance.objectNode();
    o.put("completed", n);
    o.put("duration", seconds);
    o.put("total_input_tokens", input);
    o.put("total_output_tokens", output);
    o.put("request_throughput", n / seconds);
    o.put("output_throughput", output / seconds);
    stats(o, "ttft", ttft);
    stats(o, "tpot", Arrays.copyOf(tpot, tpotCount));
    stats(o, "itl", itl.stream().mapToDouble(Double::doubleValue).toArray());
    o.put("mean_accepted_length", spec.meanAcceptedLength());
    o.put("draft_tokens", spec.draftTokens);
    o.put("accepted_tokens", spec.acceptedTokens);
    return o;
  }

  private static void stats(ObjectNode o, String name, double[] values) {
    double[] v = values.clone();
    Arrays.sort(v);
    o.put("mean_" + name + "_ms", v.length == 0 ? 0 : Arrays.stream(v).average().orElse(0));
    o.put("median_" + name + "_ms", percentile(v, 50));
    o.put("p99_" + name + "_ms", percentile(v, 99));
  }

  /** The p-th percentile by linear interpolation between closest ranks (numpy's default). */
  static double percentile(double[] sorted, double p) {
    if (sorted.length == 0) return 0;
    double rank = p / 100 * (sorted.length - 1);
    int lo = (int) Math.floor(rank), hi = (int) Math.ceil(rank);
    return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo);
  }
}
