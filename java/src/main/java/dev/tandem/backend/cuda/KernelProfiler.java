package dev.tandem.backend.cuda;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tandem.util.AtomicFiles;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * CUDA-event timing of every kernel launch while it is on: an event pair around each launch on the
 * backend's stream, read after a synchronization. Gives a per-kernel table (launches, total and
 * mean microseconds, share) and a Chrome trace (chrome://tracing, Perfetto). The events add a
 * little work between launches, so totals are for finding where time goes, not for headline
 * numbers; graph replays are not profiled.
 */
public final class KernelProfiler implements AutoCloseable {
  private record Launch(String kernel, CudaEvent start, CudaEvent end) {}

  private final List<CudaEvent> pool = new ArrayList<>();
  private final List<Launch> launches = new ArrayList<>();
  private int used;

  private CudaEvent event() {
    if (used == pool.size()) pool.add(new CudaEvent());
    return pool.get(used++);
  }

  /** Records the start event of a launch (call just before launching on {@code stream}). */
  CudaEvent before(CudaStream stream) {
    CudaEvent start = event();
    start.record(stream);
    return start;
  }

  /** Records the end event of the launch begun with {@code start}. */
  void after(String kernel, CudaEvent start, CudaStream stream) {
    CudaEvent end = event();
    end.record(stream);
    launches.add(new Launch(kernel, start, end));
  }

  /** Forgets the launches recorded so far (events are reused). */
  public void reset() {
    launches.clear();
    used = 0;
  }

  /** Per-kernel totals, in microseconds: kernel -> {launches, total}. Waits for the events. */
  public Map<String, double[]> totals() {
    Map<String, double[]> totals = new LinkedHashMap<>();
    if (!launches.isEmpty()) launches.getLast().end().synchronize();
    for (Launch l : launches) {
      double[] t = totals.computeIfAbsent(l.kernel(), k -> new double[2]);
      t[0]++;
      t[1] += 1000.0 * l.end().millisSince(l.start());
    }
    return totals;
  }

  /** The table, kernels by descending total time; {@code per} divides the counts (e.g. decode steps). */
  public String table(int per) {
    Map<String, double[]> totals = totals();
    double all = totals.values().stream().mapToDouble(t -> t[1]).sum();
    List<Map.Entry<String, double[]>> rows = new ArrayList<>(totals.entrySet());
    rows.sort((a, b) -> Double.compare(b.getValue()[1], a.getValue()[1]));
    StringBuilder out = new StringBuilder(String.format("%-24s %10s %12s %10s %7s%n", "kernel", "launches",
        "us total", "us mean", "share"));
    for (Map.Entry<String, double[]> e : rows) {
      double[] t = e.getValue();
      out.append(String.format("%-24s %10.1f %12.1f %10.2f %6.1f%%%n", e.getKey(), t[0] / per, t[1] / per,
          t[1] / t[0], 100 * t[1] / all));
    }
    out.append(String.format("%-24s %10.1f %12.1f%n", "all kernels", launches.size() / (double) per, all / per));
    return out.toString();
  }

  /** Writes the launches as a Chrome trace (one complete event per kernel launch). */
  public void writeChromeTrace(Path file) throws IOException {
    if (!launches.isEmpty()) launches.getLast().end().synchronize();
    ObjectMapper mapper = new ObjectMapper();
    ObjectNode root = mapper.createObjectNode();
    ArrayNode events = root.putArray("traceEvents");
    CudaEvent origin = launches.isEmpty() ? null : launches.getFirst().start();
    for (Launch l : launches) {
      ObjectNode e = events.addObject();
      e.put("name", l.kernel());
      e.put("ph", "X");
      e.put("pid", 0);
      e.put("tid", 0);
      e.put("ts", 1000.0 * l.start().millisSince(origin));
      e.put("dur", 1000.0 * l.end().millisSince(l.start()));
    }
    root.put("displayTimeUnit", "ns");
    AtomicFiles.writeString(file, mapper.writeValueAsString(root));
  }

  @Override
  public void close() {
    for (CudaEvent e : pool) e.close();
    pool.clear();
    launches.clear();
  }
}
