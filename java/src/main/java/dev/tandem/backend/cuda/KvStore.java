package dev.tandem.backend.cuda;

/** Launcher of {@code kv_store_bf16} (kernels/kvstore.cu): a pass's keys and values into the bf16 cache. */
final class KvStore {
  private KvStore() {}

  static LaunchGeometry geometry(int n, int kvDim) {
    return new LaunchGeometry(LaunchGeometry.ceilDiv(kvDim, 256), n, 1, 256, 1, 1, 0);
  }

  /**
   * @param k, v        [n][kvDim] fp32
   * @param positions   [n], slots [n]: device copy of BatchRows
   * @param keys        [slots][capacity][kvDim] bf16 of one layer (values alike)
   */
  static KernelArgs args(long k, long v, long positions, long slots, long keys, long values, int n, int kvDim,
      int capacity, int slotCount) {
    return new KernelArgs().ptr(k).ptr(v).ptr(positions).ptr(slots).ptr(keys).ptr(values).i32(n).i32(kvDim)
        .i32(capacity).i32(slotCount);
  }
}
