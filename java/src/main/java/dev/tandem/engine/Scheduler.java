package dev.tandem.engine;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.Iterator;
import java.util.List;

/**
 * Iteration-level scheduling (Orca, vLLM): between rounds, which requests hold a KV slot, which
 * prompt chunks the next prefill pass takes, and whom to preempt when the KV capacity runs out.
 * First come, first served: waiting requests are admitted in arrival order (a preempted request goes
 * back to the front), prompt chunks go to the oldest prefilling requests first, and the newest
 * running request is preempted first.
 *
 * <p>KV capacity is counted in positions: the sum over running requests of the positions the primary
 * holds for them, which a step may not push past {@code kvCapacity}. Each slot's cache is allocated
 * for the whole context, so the capacity is a budget within that memory (at most slots x context);
 * preemption drops a request's cache and recomputes it on readmission, so nothing is lost.
 */
final class Scheduler {
  private final int slots;
  private final int kvCapacity;       // positions
  private final int prefillBudget;    // prompt tokens per step
  private final Deque<Sequence> waiting = new ArrayDeque<>();
  private final List<Sequence> running = new ArrayList<>();  // in admission order
  private final Deque<Integer> freeSlots = new ArrayDeque<>();
  private long admissions;

  Scheduler(int slots, int kvCapacity, int prefillBudget) {
    if (prefillBudget < 1) throw new IllegalArgumentException("the prefill budget must be >= 1 token, got " + prefillBudget);
    this.slots = slots;
    this.kvCapacity = kvCapacity;
    this.prefillBudget = prefillBudget;
    for (int s = 0; s < slots; s++) freeSlots.addLast(s);
  }

  int slots() { return slots; }
  int kvCapacity() { return kvCapacity; }
  List<Sequence> running() { return running; }
  Deque<Sequence> waiting() { return waiting; }

  /** Positions held by running requests. */
  int kvUsed() {
    int used = 0;
    for (Sequence s : running) used += s.processed;
    return used;
  }

  void enqueue(Sequence s) {
    waiting.addLast(s);
  }

  /**
   * Admits waiting requests into free slots, in order, while their prefill fits the KV capacity
   * beside what runs ({@code reserve} positions kept for the running requests' next tokens).
   * Returns the admitted ones (slot set; the caller clears their caches).
   */
  List<Sequence> admit(int reserve) {
    List<Sequence> admitted = new ArrayList<>();
    int used = kvUsed() + reserve;
    while (!waiting.isEmpty() && !freeSlots.isEmpty()) {
      Sequence s = waiting.peekFirst();
      int need = s.prefillTarget() + 1;
      if (!running.isEmpty() && used + need > kvCapacity) break;  // alone it always fits (capacity >= context)
      waiting.pollFirst();
      s.slot = freeSlots.pollFirst();
      s.admitOrder = admissions++;
      running.add(s);
      admitted.add(s);
      used += need;
    }
    return admitted;
  }

  /**
   * The prompt chunks of the next prefill pass: the prefilling requests, oldest first, each taking
   * what is left of its prefill up to the step's token budget and the KV capacity. {@code chunks}
   * receives each returned request's token count.
   */
  List<Sequence> prefillChunks(int reserve, int maxRows, int[] chunks) {
    List<Sequence> out = new ArrayList<>();
    int budget = Math.min(prefillBudget, maxRows);
    int free = kvCapacity - kvUsed() - reserve;
    for (Sequence s : running) {
      if (!s.active() || !s.prefilling() || budget == 0 || free <= 0) continue;
      int chunk = Math.min(s.prefillTarget() - s.processed, Math.min(budget, free));
      chunks[out.size()] = chunk;
      out.add(s);
      budget -= chunk;
      free -= chunk;
    }
    return out;
  }

  /** Whether a step of {@code growth} more positions fits the KV capacity. */
  boolean fits(int growth) {
    return kvUsed() + growth <= kvCapacity;
  }

  /** Takes the newest running request out and puts it at the front of the queue; returns it. */
  Sequence preemptNewest() {
    Sequence newest = null;
    for (Sequence s : running) if (s.active() && (newest == null || s.admitOrder > newest.admitOrder)) newest = s;
    if (newest == null) return null;
    release(newest);
    newest.preemptions++;
    waiting.addFirst(newest);
    return newest;
  }

  /** Removes finished requests from the running set and the queue; returns them. */
  List<Sequence> retire() {
    List<Sequence> done = new ArrayList<>();
    for (Iterator<Sequence> it = running.iterator(); it.hasNext(); ) {
      Sequence s = it.next();
      if (s.active()) continue;
      it.remove();
      freeSlots.addFirst(s.slot);
      s.slot = -1;
      done.add(s);
    }
    for (Iterator<Sequence> it = waiting.iterator(); it.hasNext(); ) {
      Sequence s = it.next();
      if (s.active()) continue;
      it.remove();
      done.add(s);
    }
    return done;
  }

  private void release(Sequence s) {
    running.remove(s);
    freeSlots.addFirst(s.slot);
    s.slot = -1;
    s.processed = 0;
  }
}
