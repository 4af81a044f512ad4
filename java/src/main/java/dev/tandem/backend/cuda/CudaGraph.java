package dev.tandem.backend.cuda;

import jcuda.driver.CUgraph;
import jcuda.driver.CUgraphExec;
import jcuda.driver.JCudaDriver;

/** An instantiated CUDA graph captured from the backend's stream ({@link CudaBackend#capture}); owned. */
public final class CudaGraph implements AutoCloseable {
  private final CudaBackend backend;
  private final CUgraph graph;
  private final CUgraphExec exec = new CUgraphExec();
  private final long rowsGeneration;
  private boolean destroyed;

  CudaGraph(CudaBackend backend, CUgraph graph, long rowsGeneration) {
    this.backend = backend;
    this.graph = graph;
    this.rowsGeneration = rowsGeneration;
    Cu.check("cuGraphInstantiate", () -> JCudaDriver.cuGraphInstantiate(exec, graph, 0L));
  }

  /** Replays the captured work on the backend's stream (asynchronously). */
  public void launch() {
    if (destroyed) throw new IllegalStateException("graph was closed");
    backend.checkGraphStillValid(rowsGeneration);
    Cu.check("cuGraphLaunch", () -> JCudaDriver.cuGraphLaunch(exec, backend.stream().handle()));
  }

  @Override
  public void close() {
    if (destroyed) return;
    destroyed = true;
    Cu.check("cuGraphExecDestroy", () -> JCudaDriver.cuGraphExecDestroy(exec));
    Cu.check("cuGraphDestroy", () -> JCudaDriver.cuGraphDestroy(graph));
  }
}
