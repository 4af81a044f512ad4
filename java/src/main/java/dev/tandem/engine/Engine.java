package dev.tandem.engine;

import dev.tandem.model.Decoder;
import dev.tandem.speculative.Drafter;
import dev.tandem.speculative.SpeedMetrics;
import dev.tandem.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The inference engine: requests in, tokens out. {@link #submit} takes a request at any time and
 * returns a handle; tokens stream to the request's {@link TokenStream}; {@link RequestHandle#cancel}
 * frees its slot at the next step. One generation loop serves every client (CLI commands, the batch
 * runner, benchmarks): each {@link #step()} lets the {@link Scheduler} retire and admit requests,
 * runs one prefill pass over prompt chunks, then one decoding round in which the
 * {@link SpeculationPolicy} gives each running request its drafts (zero: plain decoding) and the
 * {@link ModelRunner} drafts, verifies and commits.
 *
 * <p>Batch invariance: a request's tokens do not depend on what else runs, when it arrived or how its
 * prompt was chunked (the backends compute each row independently of the others; sampling draws from a
 * counter-based generator keyed by the request's seed, sequence id and position).
 *
 * <p>Threads: {@link #submit} and {@link #cancel} may be called from any thread. Steps run either on
 * the engine's own thread ({@link #start}) or, without it, from one caller thread ({@link #step},
 * {@link #generateAll}).
 */
public final class Engine implements AutoCloseable {
  private final ModelRunner runner;
  private final Tokenizer tokenizer;          // null: no text, no stop strings
  private final SpeculationPolicy policy;
  private final Scheduler scheduler;
  private final int maxWaiting;
  private final String description;
  private final ConcurrentLinkedQueue<Sequence> inbox = new ConcurrentLinkedQueue<>();
  private final ConcurrentLinkedQueue<RequestHandle> cancelled = new ConcurrentLinkedQueue<>();
  private final AtomicInteger queued = new AtomicInteger();     // inbox + waiting
  private final AtomicInteger runningCount = new AtomicInteger();
  private final AtomicLong nextId = new AtomicLong();
  private final ReentrantLock lock = new ReentrantLock();
  private final Condition work = lock.newCondition();
  private final List<EngineListener> listeners = new java.util.concurrent.CopyOnWriteArrayList<>();
  private volatile Thread loop;
  private volatile boolean closing;
  private long stepNanos;                     // time in step(), model passes included
  private PassCosts measuredCosts;            // measured on demand (measurePassCosts)
  private volatile int kvUsedNow;

  Engine(ModelRunner runner, Tokenizer tokenizer, SpeculationPolicy policy, Scheduler scheduler, int maxWaiting,
      String description) {
    this.runner = runner;
    this.tokenizer = tokenizer;
    this.policy = policy;
    this.scheduler = scheduler;
    this.maxWaiting = maxWaiting;
    this.description = description;
  }

  /** Observes the engine's steps and finished requests (metrics). Called on the engine's thread. */
  public interface EngineListener {
    default void onStep(int running, int waiting, int kvUsed, int kvCapacity) {}
    default void onFinished(GenerationResult result) {}
  }

  public void addListener(EngineListener l) { listeners.add(l); }

  public Decoder primary() { return runner.primary(); }
  /** The drafter, or null for plain decoding. */
  public Drafter drafter() { return runner.drafter(); }
  public Tokenizer tokenizer() { return tokenizer; }
  public int slots() { return scheduler.slots(); }
  public int contextLength() { return runner.contextLength(); }
  public int kvCapacity() { return scheduler.kvCapacity(); }
  /** The cost model the speculation policy uses (null without one). */
  public PassCosts passCosts() { return policy.costs(); }


  /**
   * The cost model of this engine's models on this machine: the policy's, or measured now on an idle
   * engine (reports compare measured speedups with what the costs predict).
   */
  public PassCosts measurePassCosts() {
    if (policy.costs() != null) return policy.costs();
    if (hasWork()) throw new IllegalStateException("pass costs are measured on an idle engine");
    if (measuredCosts == null) measuredCosts = runner.measureCosts(9);
    return measuredCosts;
  }
  /** What runs: the models, the policy. */
  public String description() { return description; }
  /** Counters summed over every finished request and step (engine-wide times included). */
  public SpeedMetrics totals() { return runner.totals; }
  public int runningRequests() { return runningCount.get(); }
  public int waitingRequests() { return queued.get(); }
  /** KV positions the running requests held at the end of the last step or retirement (for metrics). */
  public int kvUsed() { return kvUsedNow; }

  /** Whether suitable rounds keep drafts on the backend (default true); false for comparisons and tests. */
  public void useDeviceRounds(boolean on) { runner.useDeviceRounds(on); }

  /**
   * Takes a request. Checks it against the models (vocabulary, context) and throws
   * {@link IllegalArgumentException} with a message for the client when it cannot run, or
   * {@link QueueFullException} when the waiting queue is full.
   */
  public RequestHandle submit(GenerationRequest request, TokenStream stream) {
    validate(request);
    if (closing) throw new IllegalStateException("the engine is shutting down");
    if (queued.incrementAndGet() > maxWaiting) {
      queued.decrementAndGet();
      throw new QueueFullException(maxWaiting);
    }
    RequestHandle handle = new RequestHandle(nextId.getAndIncrement(), request, this);
    inbox.add(new Sequence(handle, stream == null ? TokenStream.NONE : stream, tokenizer, runner.contextLength(),
        runner.maxDrafts(), runner.primary().config().vocabSize()));
    signal();
    return handle;
  }

  void cancel(RequestHandle handle) {
    for (Sequence s : inbox) if (s.handle == handle) s.cancelRequested = true;
    cancelled.add(handle);
    signal();
  }


  private void validate(GenerationRequest r) {
    int context = runner.contextLength();
    int vocab = runner.primary().config().vocabSize();
    if (r.prompt().length >= context && r.maxTokens() > 0) {
      throw new IllegalArgumentException("the prompt has " + r.prompt().length + " tokens; the context length is "
          + context + ", which leaves no room for a new token");
    }
    if (r.prompt().length > context) {
      throw new IllegalArgumentException("the prompt has " + r.prompt().length + " tokens, more than the context length of "
          + context);
    }
    for (int token : r.prompt()) {
      if (token < 0 || token >= vocab) {
        throw new IllegalArgumentException("token id " + token + " outside the vocabulary [0, " + vocab + ")");
      }
    }
    if (!r.stopStrings().isEmpty() && tokenizer == null) {
      throw new IllegalArgumentException("stop strings need a tokenizer; the model has none (use stop token ids)");
    }
  }

  /** Whether anything is queued or running. */
  public boolean hasWork() {
    return !inbox.isEmpty() || !scheduler.waiting().isEmpty() || !scheduler.running().isEmpty();
  }

  /**
   * One iteration: take new requests and cancellations, admit, prefill a chunk, run a decoding round,
   * retire what finished. Returns false when there was nothing to do.
   */
  public boolean step() {
    long start = System.nanoTime();
    try {
      return stepOnce();
    } finally {
      stepNanos += System.nanoTime() - start;
    }
  }


  /**
   * Nanoseconds spent in {@link #step} so far: the model passes ({@link #totals}' prefill, draft,
   * verify and refresh times) plus the engine's own bookkeeping (scheduling, policy, streaming).
   */
  public long stepNanos() { return stepNanos; }

  /** The engine's own time so far: {@link #stepNanos} less the model passes. */
  public long bookkeepingNanos() {
    SpeedMetrics t = runner.totals;
    return stepNanos - t.prefillNanos - t.draftNanos - t.verifyNanos - t.refreshNanos;
  }

  private boolean stepOnce() {
    takeInbox();
    retire();
    int decodingCount = 0;
    for (Sequence s : scheduler.running()) if (!s.prefilling()) decodingCount++;
    for (Sequence s : scheduler.admit(decodingCount)) runner.resetSlot(s);
    queued.set(inbox.size() + scheduler.waiting().size());
    runningCount.set(scheduler.running().size());
    if (scheduler.running().isEmpty()) {
      retire();
      return hasWork();
    }

    // Prefill: one pass over prompt chunks under the step's token budget.
    int[] chunks = new int[scheduler.slots()];
    List<Sequence> prefilling = scheduler.prefillChunks(decodingCount, runner.maxRows(), chunks);
    if (!prefilling.isEmpty()) runner.prefill(prefilling, Arrays.copyOf(chunks, prefilling.size()), this::emit);
    else if (decodingCount == 0) scheduler.preemptNewest();  // prefills stalled on KV capacity: make room

    // Decode: one round over every running request past its prefill.
    List<Sequence> decoding = new ArrayList<>();
    for (Sequence s : scheduler.running()) if (s.active() && !s.prefilling()) decoding.add(s);
    while (!decoding.isEmpty()) {
      int[] limits = new int[decoding.size()];
      int context = runner.contextLength();
      for (int i = 0; i < decoding.size(); i++) {
        Sequence s = decoding.get(i);
        boolean may = s.request.speculate() && runner.drafter() != null;
        int remaining = s.request.maxTokens() - s.generated;
        limits[i] = may ? Math.max(0, Math.min(runner.maxDrafts(), Math.min(remaining - 1, context - s.n))) : 0;
      }
      policy.assign(decoding, limits);
      int growth = 0;
      for (Sequence s : decoding) growth += s.k + 1;
      if (scheduler.fits(growth) || decoding.size() == 1 && scheduler.running().size() == 1) break;
      Sequence victim = scheduler.preemptNewest();
      decoding.remove(victim);
    }
    if (!decoding.isEmpty()) {
      runner.decodeRound(decoding, this::emit);
      for (Sequence s : decoding) if (s.k > 0) policy.recordRound(s.k, s.lastAccepted);
    }
    retire();
    int waiting = scheduler.waiting().size();
    for (EngineListener l : listeners) l.onStep(scheduler.running().size(), waiting, scheduler.kvUsed(), scheduler.kvCapacity());
    return true;
  }

  private void takeInbox() {
    for (Sequence s; (s = inbox.poll()) != null; ) scheduler.enqueue(s);
    for (RequestHandle h; (h = cancelled.poll()) != null; ) {
      for (Sequence s : scheduler.running()) if (s.handle == h && s.active()) s.finish = FinishReason.CANCELLED;
      for (Sequence s : scheduler.waiting()) if (s.handle == h && s.active()) s.finish = FinishReason.CANCELLED;
    }
    for (Sequence s : scheduler.waiting()) {
      if (s.cancelRequested && s.active()) s.finish = FinishReason.CANCELLED;
      if (s.active() && s.request.maxTokens() == 0) s.finish = FinishReason.LENGTH;
    }
  }

  /** Completes finished requests and frees their slots. */
  private void retire() {
    for (Sequence s : scheduler.retire()) {
      finishText(s);
      GenerationResult result = result(s);
      SpeedMetrics totals = runner.totals;
      totals.emittedTokens += s.generated;
      totals.sequences++;
      s.stream.onFinish(result);
      for (EngineListener l : listeners) l.onFinished(result);
      s.handle.complete(result);
    }
    queued.set(inbox.size() + scheduler.waiting().size());
    runningCount.set(scheduler.running().size());
    kvUsedNow = scheduler.kvUsed();
  }

  private void finishText(Sequence s) {
    if (s.finishNanos == 0) s.finishNanos = System.nanoTime();
    String rest = s.text.finish();
    if (!rest.isEmpty()) s.stream.onToken(-1, false, rest);
  }

  private GenerationResult result(Sequence s) {
    int prompt = s.request.prompt().length;
    s.metrics.emittedTokens = s.generated;
    s.metrics.sequences = 1;
    s.metrics.prefillNanos = s.firstTokenNanos == 0 ? 0 : s.firstTokenNanos - s.arrivalNanos;
    s.metrics.decodeNanos = s.firstTokenNanos == 0 ? 0 : s.finishNanos - s.firstTokenNanos;
    return new GenerationResult(Arrays.copyOfRange(s.committed, prompt, s.n), s.text.text(), s.finish, prompt,
        s.metrics, new GenerationResult.Timing(s.arrivalNanos, s.firstTokenNanos, s.finishNanos, s.preemptions));
  }

  /** Commits one token to a sequence, streams it, and decides whether the sequence stops. */
  private boolean emit(Sequence s, int token, boolean drafted) {
    s.committed[s.n++] = token;
    s.generated++;
    long now = System.nanoTime();
    if (s.generated == 1) s.firstTokenNanos = now;
    String text = s.text.accept(token);
    if (s.request.isStopToken(token) || s.text.stopped()) {
      s.finish = FinishReason.STOP;
    } else if (s.generated >= s.request.maxTokens()) {
      s.finish = FinishReason.LENGTH;
    } else if (s.n - 1 >= runner.contextLength()) {
      s.finish = FinishReason.CONTEXT;  // the new pending token has no position left
    }
    if (s.finish != null) s.finishNanos = now;
    s.stream.onToken(token, drafted, text);
    return s.active();
  }

  /**
   * Runs {@code requests} to completion and returns their results in order ({@code listener} gets
   * request index and token as they come). Without the engine's thread, steps run here.
   */
  public List<GenerationResult> generateAll(List<GenerationRequest> requests, TokenListener listener) {
    List<RequestHandle> handles = new ArrayList<>();
    for (int i = 0; i < requests.size(); i++) {
      int index = i;
      handles.add(submit(requests.get(i), (token, drafted, text) -> {
        if (token >= 0) listener.onToken(index, token);
      }));
    }
    if (loop == null) {
      while (handles.stream().anyMatch(h -> !h.isDone())) step();
    }
    List<GenerationResult> results = new ArrayList<>();
    for (RequestHandle h : handles) {
      try {
        results.add(h.result().get());
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException("interrupted while waiting for the engine", e);
      } catch (ExecutionException e) {
        throw new IllegalStateException("the engine failed: " + e.getCause().getMessage(), e.getCause());
      }
    }
    return results;
  }

  /** Runs steps on the engine's own thread until {@link #close}; {@link #submit} then wakes it. */
  public synchronized void start() {
    if (loop != null) return;
    loop = Thread.ofPlatform().name("tandem-engine").daemon(true).start(this::runLoop);
  }

  private void runLoop() {
    while (!closing) {
      try {
        if (!step()) awaitWork();
      } catch (RuntimeException | Error e) {
        failAll(e);
      }
    }
  }

  /** An engine failure ends every request with the error (nothing hangs). */
  private void failAll(Throwable e) {
    List<Sequence> all = new ArrayList<>(scheduler.running());
    all.addAll(scheduler.waiting());
    for (Sequence s; (s = inbox.poll()) != null; ) all.add(s);
    for (Sequence s : all) {
      s.finish = FinishReason.CANCELLED;
      s.handle.result().completeExceptionally(e);
    }
    scheduler.running().clear();
    scheduler.waiting().clear();
    queued.set(0);
  }

  private void awaitWork() {
    lock.lock();
    try {
      if (inbox.isEmpty() && cancelled.isEmpty() && !closing) work.await(50, java.util.concurrent.TimeUnit.MILLISECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } finally {
      lock.unlock();
    }
  }

  private void signal() {
    lock.lock();
    try {
      work.signalAll();
    } finally {
      lock.unlock();
    }
  }

  /** Stops the engine's thread (cancelling what is left) and frees the models. */
  @Override
  public void close() {
    closing = true;
    signal();
    Thread t = loop;
    if (t != null) {
      try {
        t.join(10_000);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    List<Sequence> left = new ArrayList<>(scheduler.running());
    left.addAll(scheduler.waiting());
    for (Sequence s; (s = inbox.poll()) != null; ) left.add(s);
    for (Sequence s : left) {
      if (s.active()) s.finish = FinishReason.CANCELLED;
      s.handle.complete(result(s));
    }
    runner.close();
  }
}
