package dev.tandem.backend.cpu;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * A fixed set of worker threads for data-parallel loops with low start-up latency: the caller
 * publishes a job, works on it too, and waits for it to finish. Idle workers spin briefly before
 * parking, so back-to-back jobs (the matrix products of one layer) do not pay a wake-up each.
 *
 * <p>One caller thread at a time ({@link #run} is synchronized). A failure in any task is rethrown
 * to the caller after the job ends.
 */
public final class WorkerPool implements AutoCloseable {
  /** The body of a parallel loop: task index in [0, tasks), and the index of the thread running it. */
  @FunctionalInterface
  public interface Body {
    void run(int task, int worker);
  }

  private static final long SPIN_NANOS = 100_000;

  /** One published loop. A new one per run, so a late worker can never take a task of the next. */
  private static final class Job {
    final Body body;
    final int tasks;
    final AtomicInteger next = new AtomicInteger();
    final AtomicInteger done = new AtomicInteger();
    volatile Throwable failure;

    Job(Body body, int tasks) {
      this.body = body;
      this.tasks = tasks;
    }

    void work(int worker) {
      int task;
      while ((task = next.getAndIncrement()) < tasks) {
        try {
          body.run(task, worker);
        } catch (Throwable e) {
          failure = e;
        }
        done.incrementAndGet();
      }
    }
  }

  private final Thread[] workers;
  private volatile Job current;
  private volatile boolean closed;

  /** A pool that runs loops on {@code threads} threads in all, the caller included. */
  public WorkerPool(int threads) {
    if (threads < 1) throw new IllegalArgumentException("threads must be >= 1, got " + threads);
    workers = new Thread[threads - 1];
    for (int i = 0; i < workers.length; i++) {
      int worker = i + 1;
      workers[i] = Thread.ofPlatform().daemon().name("tandem-cpu-" + worker).unstarted(() -> workerLoop(worker));
      workers[i].start();
    }
  }

  /** Threads in all, the caller included. */
  public int threads() {
    return workers.length + 1;
  }

  /** Runs {@code body} for every task in [0, tasks) across the pool and returns when all are done. */
  public synchronized void run(int tasks, Body body) {
    if (closed) throw new IllegalStateException("worker pool is closed");
    if (tasks <= 0) return;
    if (tasks == 1 || workers.length == 0) {
      for (int t = 0; t < tasks; t++) body.run(t, 0);
      return;
    }
    Job job = new Job(body, tasks);
    current = job;
    for (Thread w : workers) LockSupport.unpark(w);
    job.work(0);
    while (job.done.get() < tasks) Thread.onSpinWait();
    Throwable failure = job.failure;
    if (failure instanceof RuntimeException e) throw e;
    if (failure instanceof Error e) throw e;
    if (failure != null) throw new IllegalStateException(failure);
  }

  private void workerLoop(int worker) {
    Job seen = null;
    long idleSince = System.nanoTime();
    while (!closed) {
      Job job = current;
      if (job != seen) {
        seen = job;
        job.work(worker);
        idleSince = System.nanoTime();
      } else if (System.nanoTime() - idleSince < SPIN_NANOS) {
        Thread.onSpinWait();
      } else {
        LockSupport.park(this);
      }
    }
  }

  @Override
  public void close() {
    closed = true;
    for (Thread w : workers) LockSupport.unpark(w);
  }
}
