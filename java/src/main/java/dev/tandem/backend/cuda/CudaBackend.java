package dev.tandem.backend.cuda;

import dev.tandem.backend.Backend;
import dev.tandem.backend.BatchRows;
import dev.tandem.backend.KvCache;
import dev.tandem.backend.Tensor;
import dev.tandem.io.FloatFormats;
import dev.tandem.sampling.SamplingParams;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Collections;
import java.util.EnumSet;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Set;
import java.util.stream.IntStream;
import jcuda.CudaException;
import jcuda.Pointer;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUgraph;
import jcuda.driver.JCudaDriver;

/**
 * The CUDA backend: the {@link Backend} operations as kernels (kernels/*.cu, PTX from the jar) on
 * one stream of device 0's primary context.
 *
 * <p>Storage: weight matrices in bf16 (rounded to nearest even, as FloatFormats.floatToBf16), norm
 * gains ({@code [1][cols]}) and tables ({@link #table}) in fp32, activations fp32, the KV cache
 * bf16; fp32 accumulation everywhere. Operations are asynchronous on the stream; {@link #download},
 * {@link #argmaxRows} and {@link #synchronize} wait.
 *
 * <p>Row metadata (tokens, positions, slots) is uploaded once per {@link BatchRows#version()} into
 * a device buffer that every kernel reads, so a decode step captured as a CUDA graph
 * ({@link #capture}) replays correctly after the next step's rows are uploaded ({@link #prepare}).
 *
 * <p>Batch invariance: the small-n matmul (n <= 64) and both attention kernels compute each row
 * with a reduction order fixed by the shapes alone, and the decode attention kernel follows the
 * block kernel's arithmetic exactly, so block mode and token-by-token decoding agree bitwise on the
 * GPU. The large-n path (n > 64: prefill chunks) goes through cuBLAS, whose reduction order may
 * depend on n; it is exempt.
 *
 * <p>Not thread-safe; use it from one thread at a time (the context is made current on a thread
 * switch).
 */
public final class CudaBackend implements Backend {
  /**
   * @param checkEveryLaunch synchronize after every launch, so a kernel fault names its kernel (tests)
   * @param useCublas        bind cuBLAS for n > 64 (else the own tiled kernel)
   * @param decodeAttention  use the split-KV decode kernel when every sequence has one row
   * @param programmaticLaunch launch with programmatic dependent launch where the GPU has it (compute
   *                         capability 9.0 and later) and the driver binds cuLaunchKernelEx; the
   *                         environment variable {@code TANDEM_CUDA_PDL=off} turns it off too
   *
   * <p>Launches go through cuLaunchKernelEx bound with the FFM API ({@link LaunchKernelEx}) when the
   * driver has it; {@code TANDEM_CUDA_LAUNCH=jcuda} uses JCuda's cuLaunchKernel instead (comparisons).
   */
  public record Options(boolean checkEveryLaunch, boolean useCublas, boolean decodeAttention,
      boolean programmaticLaunch) {
    public static Options defaults() {
      return new Options(false, true, true, true);
    }

    public static Options checked() {
      return new Options(true, true, true, true);
    }
  }

  private static final int CU_STREAM_CAPTURE_MODE_THREAD_LOCAL = 1;
  private static final int NAN_BITS = 0x7fc00000;

  private final CudaProbe probe;
  private final Options options;
  private final CUdevice device = new CUdevice();
  private final CUcontext context = new CUcontext();
  private final CudaStream stream;
  private final PtxModules modules;
  private final LaunchKernelEx launchEx;   // cuLaunchKernelEx through the FFM API; null: JCuda's cuLaunchKernel
  private final String launchStatus;
  private final boolean pdlAvailable;      // launchEx, a GPU of compute capability 9.0+, the sm90 PTX, not switched off
  private boolean pdlOn;                   // launches use PDL (switchable where available, for comparisons)
  private boolean pdlInGraphs;             // ... and so do captured launches (measured slower in a replayed graph)
  private EnumSet<Kernel> omitted = EnumSet.noneOf(Kernel.class);  // timing experiments: launches skipped
  private final DeviceRows rows;
  private final Cublas cublas;
  private final String cublasStatus;
  private final Set<CudaTensor> tensors = Collections.newSetFromMap(new IdentityHashMap<>());
  private final Set<CudaKvCache> caches = Collections.newSetFromMap(new IdentityHashMap<>());
  private DeviceBuffer partial;      // decode attention chunk states
  private DeviceBuffer tickets;      // decode attention: [rows][kvHeads] ints, zero between launches
  private KernelProfiler profiler;   // non-null while profiling
  private KernelProfiler profilerStopped;
  private DeviceBuffer xBf16;        // activations in bf16 for cuBLAS
  private DeviceBuffer ids;          // [n] argmax / sampled ids
  private DeviceBuffer acceptOut;    // [sequences][2 + maxDrafts] acceptance of a SPEED round
  private DeviceBuffer slotSampling; // [slots][8] sampling parameters per cache slot (sampled SPEED rounds)
  private DeviceBuffer sampleMeta;   // [2][n] sequences, positions of sampled rows
  private Thread owner;
  private boolean capturing;
  private boolean closed;

  private CudaBackend(CudaProbe probe, Options options) {
    this.probe = probe;
    this.options = options;
    Cu.initialize();
    Cu.check("cuDeviceGet(0)", () -> JCudaDriver.cuDeviceGet(device, 0));
    Cu.check("cuDevicePrimaryCtxRetain", () -> JCudaDriver.cuDevicePrimaryCtxRetain(context, device));
    Cu.check("cuCtxSetCurrent", () -> JCudaDriver.cuCtxSetCurrent(context));
    owner = Thread.currentThread();
    this.stream = new CudaStream();
    this.rows = new DeviceRows(stream);
    StringBuilder why = new StringBuilder();
    Cublas loaded = options.useCublas() ? Cublas.load(stream.address(), why) : null;
    this.cublas = loaded;
    this.cublasStatus = loaded != null ? "cuBLAS " + loaded.library()
        : options.useCublas() ? "own tiled GEMM (no cuBLAS: " + why + ")" : "own tiled GEMM (cuBLAS off)";
    // TANDEM_CUDA_PTX=sm80 loads the compute_80 PTX on any GPU (a comparison; it has no PDL instructions).
    boolean forceSm80 = "sm80".equalsIgnoreCase(System.getenv("TANDEM_CUDA_PTX"));
    this.modules = new PtxModules(forceSm80 ? "" : PtxModules.variantFor(probe.computeMajor()));
    StringBuilder whyNoEx = new StringBuilder();
    boolean jcuda = "jcuda".equalsIgnoreCase(System.getenv("TANDEM_CUDA_LAUNCH"));
    if (jcuda) whyNoEx.append("TANDEM_CUDA_LAUNCH=jcuda");
    this.launchEx = jcuda ? null : LaunchKernelEx.bind(whyNoEx).orElse(null);
    StringBuilder whyNoPdl = new StringBuilder();
    boolean off = "off".equalsIgnoreCase(System.getenv("TANDEM_CUDA_PDL"));
    if (launchEx == null) whyNoPdl.append("needs cuLaunchKernelEx");
    else if (!options.programmaticLaunch() || off) whyNoPdl.append(off ? "TANDEM_CUDA_PDL=off" : "off");
    else if (probe.computeMajor() < 9) whyNoPdl.append("needs compute capability 9.0");
    else if (modules.variant().isEmpty()) whyNoPdl.append("TANDEM_CUDA_PTX=sm80: compute_80 PTX");
    this.pdlAvailable = whyNoPdl.isEmpty();
    this.pdlOn = pdlAvailable;
    this.launchStatus = (launchEx != null ? "cuLaunchKernelEx (FFM)" : "JCuda cuLaunchKernel (" + whyNoEx + ")")
        + (pdlAvailable ? "" : ", no programmatic dependent launch (" + whyNoPdl + ")") + ", PTX native/"
        + modules.variant();
  }

  /** A backend on device 0; an IllegalStateException saying why when there is no usable GPU. */
  public static CudaBackend create() {
    return create(Options.defaults());
  }

  public static CudaBackend create(Options options) {
    CudaProbe probe = CudaProbe.probe();
    if (!probe.available()) throw new IllegalStateException("no GPU: " + probe.reason());
    return new CudaBackend(probe, options);
  }

  @Override
  public String name() {
    return "cuda";
  }

  public CudaProbe probe() { return probe; }

  /** What serves products with more than 64 rows: cuBLAS (which library) or the own tiled kernel. */
  public String largeMatmulPath() { return cublasStatus; }

  /** How kernels are launched: the entry point, with or without programmatic dependent launch (why not), the PTX. */
  public String launchMode() {
    return launchStatus + (!pdlAvailable ? "" : !pdlOn ? ", programmatic dependent launch switched off"
        : pdlInGraphs ? ", programmatic dependent launch (graphs too)" : ", programmatic dependent launch (not in graphs)");
  }

  /** Whether the following launches use programmatic dependent launch. */
  public boolean programmaticLaunchOn() { return pdlOn; }

  /** Whether programmatic dependent launch is available here (then {@link #useProgrammaticLaunch} switches it). */
  public boolean programmaticLaunchAvailable() { return pdlAvailable; }

  /**
   * Switches programmatic dependent launch for the following launches (benchmarks compare both in one
   * run); ignored where it is unavailable. On by default where available.
   */
  public void useProgrammaticLaunch(boolean on) {
    pdlOn = on && pdlAvailable;
  }

  /**
   * Whether launches captured into a graph use programmatic dependent launch too (when it is on). Off by
   * default: a replayed decode graph of the Llama-3.2-1B shape measured 3 % slower with it on an H200,
   * while plain launches gain 4 % (docs/CUDA.md).
   */
  public void useProgrammaticLaunchInGraphs(boolean on) {
    pdlInGraphs = on;
  }

  CudaStream stream() { return stream; }

  private void ensureCurrent() {
    if (closed) throw new IllegalStateException("the CUDA backend was closed");
    Thread current = Thread.currentThread();
    if (current != owner) {
      Cu.check("cuCtxSetCurrent", () -> JCudaDriver.cuCtxSetCurrent(context));
      owner = current;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Memory

  private CudaTensor newTensor(String name, int rows, int cols, CudaTensor.Type type) {
    ensureCurrent();
    if (rows <= 0 || cols <= 0) throw new IllegalArgumentException(name + ": shape [" + rows + "][" + cols + "] must be positive");
    CudaTensor t = new CudaTensor(name, rows, cols, type, new DeviceBuffer(name, (long) rows * cols * type.bytes));
    tensors.add(t);
    return t;
  }

  /** Matrices become bf16; vectors ({@code [1][cols]}: norm gains) stay fp32. */
  @Override
  public Tensor weights(String name, float[] data, int rows, int cols) {
    if ((long) rows * cols != data.length) {
      throw new IllegalArgumentException(name + ": " + data.length + " floats for shape [" + rows + ", " + cols + "]");
    }
    if (rows == 1) return table(name, data, rows, cols);
    CudaTensor t = newTensor(name, rows, cols, CudaTensor.Type.BF16);
    uploadBf16(t.buffer(), data);
    return t;
  }

  @Override
  public Tensor table(String name, float[] data, int rows, int cols) {
    if ((long) rows * cols != data.length) {
      throw new IllegalArgumentException(name + ": " + data.length + " floats for shape [" + rows + ", " + cols + "]");
    }
    CudaTensor t = newTensor(name, rows, cols, CudaTensor.Type.F32);
    copyToDevice(t.buffer(), 0, Pointer.to(data), (long) data.length * 4);
    return t;
  }

  /** Takes ownership of a tensor built in this package (benchmarks); {@link #close} frees it. */
  CudaTensor adopt(CudaTensor t) {
    tensors.add(t);
    return t;
  }

  @Override
  public Tensor allocate(String name, int rows, int cols) {
    return newTensor(name, rows, cols, CudaTensor.Type.F32);
  }

  @Override
  public KvCache allocateKvCache(int layers, int slots, int capacity, int kvDim) {
    ensureCurrent();
    CudaKvCache[] holder = new CudaKvCache[1];
    CudaKvCache cache = new CudaKvCache(layers, slots, capacity, kvDim, () -> caches.remove(holder[0]));
    holder[0] = cache;
    caches.add(cache);
    return cache;
  }

  /** Synchronous host-to-device copy, after the stream's pending work (which may read the target). */
  private void copyToDevice(DeviceBuffer buffer, long offset, Pointer host, long bytes) {
    ensureCurrent();
    requireNotCapturing("a host-to-device copy");
    stream.synchronize("before copying to " + buffer.name());
    Cu.check("cuMemcpyHtoD(" + buffer.name() + ", " + Cu.mib(bytes) + ")",
        () -> JCudaDriver.cuMemcpyHtoD(buffer.at(offset), host, bytes));
    Cu.afterSynchronousCopy(buffer.name());
  }

  /** Rounds to bf16 (nearest even) in chunks converted in parallel, and copies each chunk up. */
  private void uploadBf16(DeviceBuffer buffer, float[] data) {
    int chunk = Math.min(data.length, 1 << 24);
    short[] bf16 = new short[chunk];
    for (int start = 0; start < data.length; start += chunk) {
      int length = Math.min(chunk, data.length - start);
      int from = start;
      IntStream.range(0, (length + 65535) >> 16).parallel().forEach(block -> {
        int end = Math.min(length, (block + 1) << 16);
        for (int i = block << 16; i < end; i++) bf16[i] = FloatFormats.floatToBf16(data[from + i]);
      });
      copyToDevice(buffer, (long) start * 2, Pointer.to(bf16), (long) length * 2);
    }
  }

  /** Writes {@code rows} rows of fp32 data into an fp32 tensor (tests, benchmarks). */
  public void upload(Tensor t, float[] data, int rowCount) {
    CudaTensor c = f32(t);
    checkRows(c, rowCount);
    copyToDevice(c.buffer(), 0, Pointer.to(data), (long) rowCount * c.cols() * 4);
  }

  /** Fills a tensor with NaN, so a test sees every element a kernel failed to write. */
  public void poison(Tensor t) {
    CudaTensor c = of(t);
    ensureCurrent();
    long words = c.bytes() / 4;
    Cu.check("cuMemsetD32Async(" + c.name() + ")",
        () -> JCudaDriver.cuMemsetD32Async(c.buffer().pointer(), NAN_BITS, words, stream.handle()));
  }

  /** Writes a layer of a KV cache from fp32 data {@code [slots][capacity][kvDim]}, rounded to bf16. */
  public void uploadCache(KvCache cache, int layer, float[] keys, float[] values) {
    CudaKvCache c = CudaKvCache.of(cache);
    long elements = c.layerBytes() / 2;
    if (keys.length != elements || values.length != elements) {
      throw new IllegalArgumentException("a cache layer holds " + elements + " values, got " + keys.length + " and "
          + values.length);
    }
    short[] k = new short[keys.length], v = new short[values.length];
    for (int i = 0; i < k.length; i++) {
      k[i] = FloatFormats.floatToBf16(keys[i]);
      v[i] = FloatFormats.floatToBf16(values[i]);
    }
    ensureCurrent();
    requireNotCapturing("a host-to-device copy");
    stream.synchronize("before writing the KV cache");
    Cu.check("cuMemcpyHtoD(KV cache keys)", () -> JCudaDriver.cuMemcpyHtoD(DevicePointer.at(c.keysAddress(layer)),
        Pointer.to(k), c.layerBytes()));
    Cu.check("cuMemcpyHtoD(KV cache values)", () -> JCudaDriver.cuMemcpyHtoD(DevicePointer.at(c.valuesAddress(layer)),
        Pointer.to(v), c.layerBytes()));
    Cu.afterSynchronousCopy("the KV cache upload");
  }

  /** Reads a layer of a KV cache ({@code [slots][capacity][kvDim]}) as floats, waiting for pending work. */
  public void downloadCache(KvCache cache, int layer, float[] keys, float[] values) {
    CudaKvCache c = CudaKvCache.of(cache);
    int elements = (int) (c.layerBytes() / 2);
    short[] k = new short[elements], v = new short[elements];
    synchronize();
    Cu.check("cuMemcpyDtoH(KV cache keys)", () -> JCudaDriver.cuMemcpyDtoH(Pointer.to(k),
        DevicePointer.at(c.keysAddress(layer)), c.layerBytes()));
    Cu.check("cuMemcpyDtoH(KV cache values)", () -> JCudaDriver.cuMemcpyDtoH(Pointer.to(v),
        DevicePointer.at(c.valuesAddress(layer)), c.layerBytes()));
    for (int i = 0; i < elements; i++) {
      keys[i] = FloatFormats.bf16ToFloat(k[i]);
      values[i] = FloatFormats.bf16ToFloat(v[i]);
    }
  }

  /** A scratch buffer of at least {@code bytes}, grown (outside graph capture) when too small. */
  private DeviceBuffer scratch(DeviceBuffer current, String name, long bytes) {
    if (current != null && current.bytes() >= bytes) return current;
    if (capturing) {
      throw new IllegalStateException("the " + name + " buffer must grow during graph capture: run the captured"
          + " work once before capturing it");
    }
    if (current != null) {
      stream.synchronize("before reallocating " + name);
      current.close();
    }
    return new DeviceBuffer(name, Math.max(bytes, 256));
  }

  // ---------------------------------------------------------------------------------------------
  // Launching

  /** Whether this launch uses programmatic dependent launch. */
  private boolean programmatic() {
    return pdlOn && (!capturing || pdlInGraphs);
  }

  /** The small-n products prefetch their first weights only where a PDL launch lets that overlap. */
  private int prefetchFlag() {
    return programmatic() ? Matmul.PREFETCH : 0;
  }

  /**
   * Timing experiments only: kernels (by entry name) whose launches are skipped from now on, so that a
   * benchmark can time a step without them and take the difference (the step then computes garbage).
   * Unknown names are an error; an empty set restores normal work.
   */
  public void omitForTiming(Collection<String> entries) {
    EnumSet<Kernel> kernels = EnumSet.noneOf(Kernel.class);
    for (String e : entries) {
      kernels.add(Arrays.stream(Kernel.values()).filter(k -> k.entry.equals(e)).findFirst()
          .orElseThrow(() -> new IllegalArgumentException("no kernel named " + e + "; kernels: "
              + Arrays.stream(Kernel.values()).map(k -> k.entry).toList())));
    }
    omitted = kernels;
  }

  private void launch(Kernel kernel, LaunchGeometry g, KernelArgs args) {
    ensureCurrent();
    if (!omitted.isEmpty() && omitted.contains(kernel)) return;
    PtxModules.Function function = modules.function(kernel);
    CudaEvent profileStart = profiler != null && !capturing ? profiler.before(stream) : null;
    int result;
    try {
      result = launchEx != null ? launchEx.launch(function.address(), g, stream.address(), args, programmatic())
          : JCudaDriver.cuLaunchKernel(function, g.gridX(), g.gridY(), g.gridZ(), g.blockX(), g.blockY(), g.blockZ(),
              g.sharedBytes(), stream.handle(), args.toPointer(), null);
    } catch (CudaException e) {
      throw new CudaCallException("launching " + kernel.entry + " " + g + " failed: " + e.getMessage(), e);
    }
    if (result != 0) throw new CudaCallException("launching " + kernel.entry + " " + g + " failed: error " + result);
    if (profileStart != null) profiler.after(kernel.entry, profileStart, stream);
    if (options.checkEveryLaunch() && !capturing) stream.synchronize("kernel " + kernel.entry);
  }

  /**
   * Times every following launch with CUDA events until {@link #stopProfiling}; the profiler's
   * table and trace are read from the returned object.
   */
  public KernelProfiler startProfiling() {
    ensureCurrent();
    if (profiler == null) profiler = new KernelProfiler();
    profiler.reset();
    return profiler;
  }

  /** Stops recording (what was recorded stays readable until the next start). */
  public void stopProfiling() {
    profilerStopped = profiler;
    profiler = null;
  }

  /** Uploads the rows unless the device holds them; during capture they must be there already. */
  private void useRows(BatchRows batch) {
    ensureCurrent();
    if (capturing && rows.needsUpload(batch)) {
      throw new IllegalStateException("batch rows changed during graph capture: call prepare(rows) before capturing");
    }
    if (rows.upload(batch) && batch.hasDraftRows()) {
      // Draft rows: their tokens are in the draft table on the device (SPEED's greedy rounds).
      CudaTensor table = f32(batch.draftTable());
      int n = batch.rowCount();
      launch(Kernel.TOKENS_FROM_DRAFTS, DraftRounds.geometry(n),
          DraftRounds.tokensArgs(rows.tokens(), rows.slots(), rows.draftRefs(), table.address(), n, table.cols()));
    }
  }

  /** Uploads {@code batch} for the next operations or graph replay (asynchronously). */
  public void prepare(BatchRows batch) {
    requireNotCapturing("uploading batch rows");
    useRows(batch);
  }

  private void requireNotCapturing(String what) {
    if (capturing) throw new IllegalStateException(what + " cannot be captured in a CUDA graph");
  }

  private static CudaTensor of(Tensor t) {
    if (t instanceof CudaTensor c) return c;
    throw new IllegalArgumentException("tensor " + t.name() + " does not belong to the CUDA backend");
  }

  private static CudaTensor f32(Tensor t) {
    CudaTensor c = of(t);
    if (c.type() != CudaTensor.Type.F32) throw new IllegalArgumentException("tensor " + t.name() + " must be fp32, is " + c.type());
    return c;
  }

  private static CudaTensor bf16(Tensor t) {
    CudaTensor c = of(t);
    if (c.type() != CudaTensor.Type.BF16) throw new IllegalArgumentException("weight " + t.name() + " must be bf16, is " + c.type());
    return c;
  }

  private static void checkRows(Tensor t, int n) {
    if (n < 0 || n > t.rows()) throw new IllegalArgumentException(n + " rows requested of " + t.name() + " with " + t.rows());
  }

  // ---------------------------------------------------------------------------------------------
  // Operations

  @Override
  public void embed(Tensor table, BatchRows batch, Tensor out) {
    CudaTensor t = bf16(table), o = f32(out);
    int n = batch.rowCount();
    checkRows(o, n);
    if (t.cols() != o.cols()) throw new IllegalArgumentException("embed: table width " + t.cols() + " != " + o.cols());
    for (int i = 0; i < n; i++) {
      if (batch.draftRef(i) >= 0) continue;  // a draft row: an argmax the device wrote
      int token = batch.token(i);
      if (token < 0 || token >= t.rows()) {
        throw new IllegalArgumentException("token id " + token + " outside the vocabulary [0, " + t.rows() + ")");
      }
    }
    if (n == 0) return;
    useRows(batch);
    launch(Kernel.EMBED, Embed.geometry(n, t.cols()), Embed.args(t.address(), rows.tokens(), o.address(), n, t.cols(), t.rows()));
  }

  @Override
  public void rmsNorm(Tensor x, Tensor gain, float eps, int n, Tensor out) {
    CudaTensor xs = f32(x), g = f32(gain), o = f32(out);
    checkRows(xs, n);
    checkRows(o, n);
    if (n == 0) return;
    launch(Kernel.RMSNORM, RmsNorm.geometry(n), RmsNorm.args(xs.address(), g.address(), o.address(), n, xs.cols(), eps));
  }

  /** The small-n kernel over up to three weights per launch, with the given fusion flags. */
  private void smallMatmul(CudaTensor xs, Tensor[] ws, int n, Tensor[] outs, long gain, float eps, int flags) {
    Kernel kernel = Matmul.smallKernel(n);
    int k = xs.cols();
    for (int first = 0; first < ws.length; first += Matmul.MAX_WEIGHTS) {
      int count = Math.min(Matmul.MAX_WEIGHTS, ws.length - first);
      long[] w = new long[3], o = new long[3];
      int[] m = new int[3];
      for (int j = 0; j < count; j++) {
        w[j] = of(ws[first + j]).address();
        o[j] = of(outs[first + j]).address();
        m[j] = ws[first + j].rows();
      }
      launch(kernel, Matmul.smallGeometry(m[0], m[1], m[2]),
          Matmul.smallArgs(xs.address(), w[0], o[0], w[1], o[1], w[2], o[2], gain, n, k, m[0], m[1], m[2], eps,
              flags | prefetchFlag()));
    }
  }

  /** Shapes of a product x [n][k] * w^T into out [n][w.rows]; throws naming what does not fit. */
  private void checkProduct(CudaTensor xs, Tensor w, Tensor out, int n) {
    if (w.cols() != xs.cols()) {
      throw new IllegalArgumentException("matmul " + w.name() + ": weight has " + w.cols() + " input features, activation "
          + xs.name() + " has " + xs.cols());
    }
    if (out.cols() != w.rows()) {
      throw new IllegalArgumentException("matmul " + w.name() + ": output " + out.name() + " has " + out.cols()
          + " columns, expected " + w.rows());
    }
    bf16(w);
    checkRows(f32(out), n);
  }

  /** The norm folded into the small-n products (n <= 64); larger n: the separate kernels. */
  @Override
  public void normMatmul(Tensor x, Tensor gain, float eps, Tensor normed, Tensor[] ws, int n, Tensor[] outs) {
    CudaTensor xs = f32(x), g = f32(gain);
    if (n > Matmul.SMALL_N_MAX || n == 0) {
      Backend.super.normMatmul(x, gain, eps, normed, ws, n, outs);
      return;
    }
    checkRows(xs, n);
    if (g.cols() != xs.cols()) throw new IllegalArgumentException("normMatmul: gain " + gain.name() + " has " + g.cols()
        + " columns, " + x.name() + " has " + xs.cols());
    for (int j = 0; j < ws.length; j++) checkProduct(xs, ws[j], outs[j], n);
    smallMatmul(xs, ws, n, outs, g.address(), eps, Matmul.NORM);
  }

  /** The residual add in the small-n product's epilogue (n <= 64); larger n: matmul then add. */
  @Override
  public void matmulAdd(Tensor x, Tensor w, int n, Tensor residual, Tensor product) {
    CudaTensor xs = f32(x);
    if (n > Matmul.SMALL_N_MAX || n == 0) {
      Backend.super.matmulAdd(x, w, n, residual, product);
      return;
    }
    checkRows(xs, n);
    checkProduct(xs, w, residual, n);
    smallMatmul(xs, new Tensor[] {w}, n, new Tensor[] {residual}, 0L, 0f, Matmul.RESIDUAL);
  }

  /** Norm, gate and up products and SwiGLU in one launch (n <= 64); larger n: the separate kernels. */
  @Override
  public void normGateUpSwiglu(Tensor x, Tensor gain, float eps, Tensor normed, Tensor wGate, Tensor wUp, int n,
      Tensor gate, Tensor up, Tensor hidden) {
    CudaTensor xs = f32(x), g = f32(gain), h = f32(hidden);
    if (n > Matmul.SMALL_N_MAX || n == 0) {
      Backend.super.normGateUpSwiglu(x, gain, eps, normed, wGate, wUp, n, gate, up, hidden);
      return;
    }
    checkRows(xs, n);
    if (g.cols() != xs.cols()) throw new IllegalArgumentException("normGateUpSwiglu: gain " + gain.name() + " has "
        + g.cols() + " columns, " + x.name() + " has " + xs.cols());
    checkProduct(xs, wGate, hidden, n);
    checkProduct(xs, wUp, hidden, n);
    int m = wGate.rows();
    launch(Matmul.smallKernel(n), Matmul.swigluGeometry(m), Matmul.smallArgs(xs.address(), of(wGate).address(),
        h.address(), of(wUp).address(), 0L, 0L, 0L, g.address(), n, xs.cols(), m, m, 0, eps,
        Matmul.NORM | Matmul.SWIGLU | prefetchFlag()));
  }

  @Override
  public void matmul(Tensor x, Tensor w, int n, Tensor out) {
    matmul(x, new Tensor[] {w}, n, new Tensor[] {out});
  }

  @Override
  public void matmul(Tensor x, Tensor[] ws, int n, Tensor[] outs) {
    CudaTensor xs = f32(x);
    int k = xs.cols();
    checkRows(xs, n);
    if (ws.length != outs.length) throw new IllegalArgumentException(ws.length + " weights but " + outs.length + " outputs");
    for (int m = 0; m < ws.length; m++) {
      if (ws[m].cols() != k) {
        throw new IllegalArgumentException("matmul " + ws[m].name() + ": weight has " + ws[m].cols()
            + " input features, activation " + x.name() + " has " + k);
      }
      if (outs[m].cols() != ws[m].rows()) {
        throw new IllegalArgumentException("matmul " + ws[m].name() + ": output " + outs[m].name() + " has "
            + outs[m].cols() + " columns, expected " + ws[m].rows());
      }
      bf16(ws[m]);
      checkRows(f32(outs[m]), n);
    }
    if (n == 0) return;
    if (n <= Matmul.SMALL_N_MAX) {
      smallMatmul(xs, ws, n, outs, 0L, 0f, 0);
      return;
    }
    if (cublas != null) {
      xBf16 = scratch(xBf16, "bf16 activations for cuBLAS", (long) n * k * 2);
      launch(Kernel.CONVERT_BF16, Matmul.convertGeometry(n * k), Matmul.convertArgs(xs.address(), xBf16.address(), n * k));
      for (int j = 0; j < ws.length; j++) {
        ensureCurrent();
        cublas.gemm(xBf16.address(), of(ws[j]).address(), of(outs[j]).address(), n, k, ws[j].rows());
        if (options.checkEveryLaunch() && !capturing) stream.synchronize("cublasGemmEx");
      }
    } else {
      for (int j = 0; j < ws.length; j++) {
        launch(Kernel.MATMUL_TILED, Matmul.tiledGeometry(n, ws[j].rows()),
            Matmul.tiledArgs(xs.address(), of(ws[j]).address(), of(outs[j]).address(), n, k, ws[j].rows()));
      }
    }
  }

  @Override
  public void rope(Tensor x, int heads, int headDim, Tensor ropeTable, BatchRows batch) {
    CudaTensor xs = f32(x), table = f32(ropeTable);
    int n = batch.rowCount();
    checkRows(xs, n);
    if (heads * headDim > xs.cols() || table.cols() != headDim) {
      throw new IllegalArgumentException("rope: " + heads + " heads of " + headDim + " do not fit " + x.name() + " ["
          + xs.cols() + "] or the table's rows of " + table.cols());
    }
    for (int i = 0; i < n; i++) {
      if (batch.position(i) >= table.rows() || batch.position(i) < 0) {
        throw new IllegalArgumentException("position " + batch.position(i) + " beyond the rotary table of " + table.rows());
      }
    }
    if (n == 0) return;
    useRows(batch);
    launch(Kernel.ROPE, Rope.geometry(n, heads, headDim),
        Rope.args(xs.address(), table.address(), rows.positions(), n, heads, headDim, xs.cols(), table.rows()));
  }

  @Override
  public void kvStore(KvCache cache, int layer, Tensor k, Tensor v, BatchRows batch) {
    CudaKvCache c = CudaKvCache.of(cache);
    CudaTensor ks = f32(k), vs = f32(v);
    int n = batch.rowCount();
    checkRows(ks, n);
    checkRows(vs, n);
    if (ks.cols() != c.kvDim() || vs.cols() != c.kvDim()) {
      throw new IllegalArgumentException("kvStore: keys/values have " + ks.cols() + "/" + vs.cols() + " columns, the cache "
          + c.kvDim());
    }
    for (int i = 0; i < n; i++) {
      if (batch.position(i) >= c.capacity()) {
        throw new IllegalArgumentException("position " + batch.position(i) + " beyond the KV cache capacity " + c.capacity());
      }
      if (batch.slot(i) < 0 || batch.slot(i) >= c.slots()) {
        throw new IllegalArgumentException("slot " + batch.slot(i) + " outside the cache's " + c.slots() + " slots");
      }
    }
    if (n == 0) return;
    useRows(batch);
    launch(Kernel.KV_STORE, KvStore.geometry(n, c.kvDim()), KvStore.args(ks.address(), vs.address(), rows.positions(),
        rows.slots(), c.keysAddress(layer), c.valuesAddress(layer), n, c.kvDim(), c.capacity(), c.slots()));
  }

  /** One launch ({@code rope_kv_store_f32}) instead of rope, rope and kvStore; the same bits. */
  @Override
  public void ropeAndStore(Tensor q, int heads, Tensor k, Tensor v, int kvHeads, int headDim, Tensor ropeTable,
      KvCache cache, int layer, BatchRows batch) {
    CudaKvCache c = CudaKvCache.of(cache);
    CudaTensor ks = f32(k), vs = f32(v), table = f32(ropeTable);
    CudaTensor qs = q == null ? null : f32(q);
    int n = batch.rowCount();
    if (qs != null) checkRows(qs, n);
    checkRows(ks, n);
    checkRows(vs, n);
    if (kvHeads * headDim != c.kvDim() || ks.cols() != c.kvDim() || vs.cols() != c.kvDim() || table.cols() != headDim
        || (qs != null && heads * headDim > qs.cols())) {
      throw new IllegalArgumentException("ropeAndStore: shapes do not fit (heads " + heads + ", KV heads " + kvHeads
          + " of " + headDim + "; cache kvDim " + c.kvDim() + ", table rows of " + table.cols() + ")");
    }
    for (int i = 0; i < n; i++) {
      int position = batch.position(i);
      if (position < 0 || position >= table.rows() || position >= c.capacity()) {
        throw new IllegalArgumentException("position " + position + " beyond the rotary table of " + table.rows()
            + " or the KV cache capacity " + c.capacity());
      }
      if (batch.slot(i) < 0 || batch.slot(i) >= c.slots()) {
        throw new IllegalArgumentException("slot " + batch.slot(i) + " outside the cache's " + c.slots() + " slots");
      }
    }
    if (n == 0) return;
    useRows(batch);
    int queryHeads = qs == null ? 0 : heads;
    launch(Kernel.ROPE_KV_STORE, Rope.fusedGeometry(n, queryHeads, kvHeads, headDim),
        Rope.fusedArgs(qs == null ? 0 : qs.address(), ks.address(), vs.address(), table.address(), rows.positions(),
            rows.slots(), c.keysAddress(layer), c.valuesAddress(layer), n, queryHeads, kvHeads, headDim,
            qs == null ? 0 : qs.cols(), table.rows(), c.capacity(), c.slots()));
  }

  @Override
  public void attention(Tensor q, KvCache cache, int layer, int heads, int headDim, BatchRows batch, Tensor out) {
    attention(q, cache, layer, heads, headDim, batch, out, options.decodeAttention() && !SPLIT_ATTENTION_OFF);
  }

  /** Comparisons: TANDEM_CUDA_SPLIT_ATTENTION=off runs every pass through the block kernel (same bits). */
  private static final boolean SPLIT_ATTENTION_OFF = "off".equalsIgnoreCase(System.getenv("TANDEM_CUDA_SPLIT_ATTENTION"));

  /**
   * Attention with an explicit kernel choice: {@code decodeKernel} asks for the split-KV decode
   * kernel, used for up to {@link Attention#SPLIT_MAX_ROWS} rows (else the block kernel runs). Both
   * give the same bits.
   */
  void attention(Tensor q, KvCache cache, int layer, int heads, int headDim, BatchRows batch, Tensor out,
      boolean decodeKernel) {
    CudaKvCache c = CudaKvCache.of(cache);
    CudaTensor qs = f32(q), o = f32(out);
    int n = batch.rowCount();
    checkRows(qs, n);
    checkRows(o, n);
    if (c.kvDim() % headDim != 0) throw new IllegalArgumentException("kvDim " + c.kvDim() + " is not a multiple of headDim " + headDim);
    int kvHeads = c.kvDim() / headDim;
    Attention.checkShape(heads, kvHeads, headDim);
    if (qs.cols() < heads * headDim || o.cols() < heads * headDim) {
      throw new IllegalArgumentException("attention: q/out narrower than " + heads + " x " + headDim);
    }
    for (int i = 0; i < n; i++) {
      if (batch.position(i) >= c.capacity()) {
        throw new IllegalArgumentException("position " + batch.position(i) + " beyond the KV cache capacity " + c.capacity());
      }
    }
    if (n == 0) return;
    useRows(batch);
    float scale = (float) (1.0 / Math.sqrt(headDim));
    // The split-KV kernel handles any rows independently (rows of one sequence re-read its KV
    // chunks from L2); it keeps the whole GPU busy where the block kernel has one block per
    // (row group, KV head). Up to SPLIT_MAX_ROWS rows (decode steps, verification blocks) it runs;
    // beyond (prefill) the block kernel streams each KV tile once for a group of rows. Both give the
    // same bits for a row.
    if (decodeKernel && n <= Attention.SPLIT_MAX_ROWS && Attention.decodeSupported(headDim)) {
      partial = scratch(partial, "decode attention partial states",
          Attention.partialFloats(n, heads, headDim, c.capacity()) * 4);
      long ticketBytes = (long) n * kvHeads * 4;
      if (tickets == null || tickets.bytes() < ticketBytes) {
        tickets = scratch(tickets, "decode attention tickets", ticketBytes);
        // Zero once; the kernel's last chunk block resets its ticket, so they stay zero between launches.
        Cu.check("cuMemsetD32(decode attention tickets)",
            () -> JCudaDriver.cuMemsetD32(tickets.pointer(), 0, tickets.bytes() / 4));
        Cu.afterSynchronousCopy("zeroing the decode attention tickets");
      }
      launch(Attention.decodeKernel(headDim), Attention.decodeGeometry(n, kvHeads, c.capacity()),
          Attention.decodeArgs(qs.address(), c.keysAddress(layer), c.valuesAddress(layer), rows.positions(),
              rows.slots(), partial.address(), tickets.address(), o.address(), n, heads, kvHeads, headDim,
              c.capacity(), scale));
    } else {
      launch(Kernel.ATTENTION_BLOCK, Attention.blockGeometry(n, heads, kvHeads, headDim),
          Attention.blockArgs(qs.address(), c.keysAddress(layer), c.valuesAddress(layer), rows.positions(),
              rows.slots(), o.address(), n, heads, kvHeads, headDim, c.capacity(), scale));
    }
  }

  @Override
  public void swiglu(Tensor gate, Tensor up, int n, Tensor out) {
    CudaTensor g = f32(gate), u = f32(up), o = f32(out);
    checkRows(g, n);
    int count = n * g.cols();
    if (n == 0) return;
    launch(Kernel.SWIGLU, Swiglu.geometry(count), Swiglu.args(g.address(), u.address(), o.address(), count));
  }

  @Override
  public void add(Tensor x, Tensor delta, int n) {
    CudaTensor xs = f32(x), d = f32(delta);
    checkRows(xs, n);
    checkRows(d, n);
    int count = n * xs.cols();
    if (n == 0) return;
    launch(Kernel.ADD, ResidualAdd.geometry(count), ResidualAdd.args(xs.address(), d.address(), count));
  }

  @Override
  public void addBias(Tensor x, Tensor bias, int n) {
    CudaTensor xs = f32(x), b = f32(bias);
    checkRows(xs, n);
    if (b.rows() != 1 || b.cols() != xs.cols()) {
      throw new IllegalArgumentException("addBias: bias " + bias.name() + " is [" + b.rows() + "][" + b.cols()
          + "], expected [1][" + xs.cols() + "]");
    }
    if (n == 0) return;
    launch(Kernel.ADD_BIAS, ResidualAdd.biasGeometry(n, xs.cols()),
        ResidualAdd.biasArgs(xs.address(), b.address(), n, xs.cols()));
  }

  @Override
  public void copyRows(Tensor src, int srcRow, Tensor dst, int dstRow, int count) {
    CudaTensor s = f32(src), d = f32(dst);
    if (s.cols() != d.cols()) {
      throw new IllegalArgumentException("copyRows: " + src.name() + " has " + s.cols() + " columns, " + dst.name()
          + " has " + d.cols());
    }
    if (srcRow < 0 || dstRow < 0 || srcRow + count > s.rows() || dstRow + count > d.rows()) {
      throw new IllegalArgumentException("copyRows: rows out of range");
    }
    if (count == 0) return;
    int elements = count * s.cols();
    launch(Kernel.COPY_ROWS, CopyRows.geometry(elements), CopyRows.args(s.rowAddress(srcRow), d.rowAddress(dstRow), elements));
  }

  /** Launches the argmax of the first n rows into the device id buffer (capturable). */
  public void launchArgmax(Tensor t, int n) {
    CudaTensor c = f32(t);
    checkRows(c, n);
    ids = scratch(ids, "token ids", (long) Math.max(n, 64) * 4);
    launch(Kernel.ARGMAX, Argmax.geometry(n), Argmax.args(c.address(), ids.address(), n, c.cols()));
  }

  /** Waits for the stream and copies the first n ids of the device id buffer to dst. */
  public void collectIds(int n, int[] dst) {
    requireNotCapturing("reading ids back");
    synchronize();
    Cu.check("cuMemcpyDtoH(token ids)", () -> JCudaDriver.cuMemcpyDtoH(Pointer.to(dst), ids.pointer(), (long) n * 4));
  }

  @Override
  public void argmaxRows(Tensor t, int n, int[] dst) {
    if (n == 0) return;
    launchArgmax(t, n);
    collectIds(n, dst);
  }

  @Override
  public void argmaxToDraftTable(Tensor logits, BatchRows batch, Tensor table, int column) {
    CudaTensor c = f32(logits), d = f32(table);
    int n = batch.sequenceCount();
    checkRows(c, n);
    if (column < 0 || column >= d.cols()) throw new IllegalArgumentException("draft column " + column + " outside [0, " + d.cols() + ")");
    if (n == 0) return;
    useRows(batch);
    launch(Kernel.ARGMAX_DRAFTS, Argmax.geometry(n),
        Argmax.draftArgs(c.address(), rows.sequenceSlots(), d.address(), n, c.cols(), d.cols(), column));
  }

  @Override
  public void setSlotSampling(SamplingParams[] params, long[] sequences, int n) {
    int[] table = Sample.rowParams(n, params, sequences, new int[n]);
    slotSampling = scratch(slotSampling, "sampling parameters per slot", Math.max((long) table.length, Sample.PARAMS) * 4);
    copyToDevice(slotSampling, 0, Pointer.to(table), (long) table.length * 4);
  }

  @Override
  public void sampleToDraftTable(Tensor logits, BatchRows batch, Tensor table, Tensor q, int column) {
    CudaTensor c = f32(logits), d = f32(table), qs = f32(q);
    int n = batch.sequenceCount();
    checkRows(c, n);
    checkDraftTables(c, d, qs);
    if (column < 0 || column >= d.cols()) throw new IllegalArgumentException("draft column " + column + " outside [0, " + d.cols() + ")");
    if (n == 0) return;
    useRows(batch);
    launch(Kernel.SAMPLE_DRAFTS, Sample.geometry(n), Sample.draftArgs(c.address(), slotSampling.address(),
        rows.positions(), rows.sequenceStarts(), rows.sequenceSlots(), d.address(), qs.address(), n, c.cols(), d.cols(),
        column));
  }

  @Override
  public void rejectionAccept(Tensor logits, BatchRows batch, Tensor table, Tensor q, int[] out) {
    CudaTensor c = f32(logits), d = f32(table), qs = f32(q);
    int sequences = batch.sequenceCount(), stride = d.cols();
    checkRows(c, batch.rowCount());
    checkDraftTables(c, d, qs);
    if (out.length < sequences * (2 + stride)) {
      throw new IllegalArgumentException("rejection: out holds " + out.length + " ints, needs " + sequences * (2 + stride));
    }
    if (sequences == 0) return;
    useRows(batch);
    acceptOut = scratch(acceptOut, "greedy acceptance", (long) sequences * (2 + stride) * 4);
    launch(Kernel.REJECTION, Sample.geometry(sequences), Sample.rejectionArgs(c.address(), slotSampling.address(),
        rows.positions(), rows.sequenceStarts(), rows.sequenceSlots(), d.address(), qs.address(), acceptOut.address(),
        sequences, c.cols(), stride));
    requireNotCapturing("reading the acceptance back");
    synchronize();
    Cu.check("cuMemcpyDtoH(rejection acceptance)", () -> JCudaDriver.cuMemcpyDtoH(Pointer.to(out), acceptOut.pointer(),
        (long) sequences * (2 + stride) * 4));
  }

  private void checkDraftTables(CudaTensor logits, CudaTensor table, CudaTensor q) {
    if (slotSampling == null) throw new IllegalStateException("sampled drafting needs setSlotSampling first");
    if (q.cols() != logits.cols() || q.rows() < table.rows() * table.cols()) {
      throw new IllegalArgumentException("the q table must be [" + table.rows() * table.cols() + "][" + logits.cols()
          + "], got [" + q.rows() + "][" + q.cols() + "]");
    }
  }

  /** The per-row sampling parameters into their device buffer, on the stream (see {@link Sample#rowParams}). */
  private void uploadSampleParams(int[] table) {
    sampleMeta = scratch(sampleMeta, "sampling rows", Math.max((long) table.length, 64L * Sample.PARAMS) * 4);
    copyToDevice(sampleMeta, 0, Pointer.to(table), (long) table.length * 4);
  }

  @Override
  public void greedyAccept(Tensor logits, BatchRows batch, Tensor table, int[] out) {
    CudaTensor d = f32(table);
    int n = batch.rowCount(), sequences = batch.sequenceCount(), stride = d.cols();
    if (out.length < sequences * (2 + stride)) {
      throw new IllegalArgumentException("greedy accept: out holds " + out.length + " ints, needs " + sequences * (2 + stride));
    }
    if (sequences == 0) return;
    useRows(batch);
    launchArgmax(logits, n);
    acceptOut = scratch(acceptOut, "greedy acceptance", (long) sequences * (2 + stride) * 4);
    launch(Kernel.GREEDY_ACCEPT, DraftRounds.geometry(sequences), DraftRounds.acceptArgs(ids.address(),
        rows.sequenceStarts(), rows.sequenceSlots(), d.address(), acceptOut.address(), sequences, stride));
    requireNotCapturing("reading the acceptance back");
    synchronize();
    Cu.check("cuMemcpyDtoH(greedy acceptance)", () -> JCudaDriver.cuMemcpyDtoH(Pointer.to(out), acceptOut.pointer(),
        (long) sequences * (2 + stride) * 4));
  }

  @Override
  public void sampleRows(Tensor logits, int n, SamplingParams[] params, long[] sequences, int[] positions, int[] dst) {
    CudaTensor c = f32(logits);
    checkRows(c, n);
    if (n == 0) return;
    ids = scratch(ids, "token ids", (long) Math.max(n, 64) * 4);
    uploadSampleParams(Sample.rowParams(n, params, sequences, positions));
    launch(Kernel.SAMPLE, Sample.geometry(n), Sample.args(c.address(), sampleMeta.address(), ids.address(), n, c.cols()));
    collectIds(n, dst);
  }

  @Override
  public void download(Tensor t, int n, float[] dst) {
    CudaTensor c = of(t);
    checkRows(c, n);
    requireNotCapturing("download");
    synchronize();
    long elements = (long) n * c.cols();
    if (c.type() == CudaTensor.Type.F32) {
      Cu.check("cuMemcpyDtoH(" + c.name() + ")", () -> JCudaDriver.cuMemcpyDtoH(Pointer.to(dst), c.buffer().pointer(),
          elements * 4));
    } else {
      short[] bits = new short[(int) elements];
      Cu.check("cuMemcpyDtoH(" + c.name() + ")", () -> JCudaDriver.cuMemcpyDtoH(Pointer.to(bits), c.buffer().pointer(),
          elements * 2));
      for (int i = 0; i < bits.length; i++) dst[i] = FloatFormats.bf16ToFloat(bits[i]);
    }
  }

  @Override
  public void release(Tensor t) {
    CudaTensor c = of(t);
    if (tensors.remove(c)) {
      ensureCurrent();
      c.buffer().close();
    }
  }

  @Override
  public void synchronize() {
    ensureCurrent();
    requireNotCapturing("synchronize");
    stream.synchronize(options.checkEveryLaunch() ? "pending work"
        : "pending work; a kernel fault is reported here: run with Options.checked() to name the kernel");
  }

  // ---------------------------------------------------------------------------------------------
  // Graphs

  /**
   * Captures the work {@code body} issues on the stream into a graph. The body must issue only
   * kernels: upload its batch rows with {@link #prepare} first and run it once uncaptured so
   * scratch buffers have their size.
   */
  public CudaGraph capture(Runnable body) {
    ensureCurrent();
    requireNotCapturing("a nested capture");
    long generation = rows.generation();
    Cu.check("cuStreamBeginCapture", () -> JCudaDriver.cuStreamBeginCapture(stream.handle(),
        CU_STREAM_CAPTURE_MODE_THREAD_LOCAL));
    capturing = true;
    CUgraph graph = new CUgraph();
    try {
      body.run();
    } catch (RuntimeException | Error e) {
      capturing = false;
      try {
        JCudaDriver.cuStreamEndCapture(stream.handle(), graph);
        JCudaDriver.cuGraphDestroy(graph);
      } catch (RuntimeException suppressed) {
        e.addSuppressed(suppressed);
      }
      throw e;
    }
    capturing = false;
    Cu.check("cuStreamEndCapture", () -> JCudaDriver.cuStreamEndCapture(stream.handle(), graph));
    if (rows.generation() != generation) throw new IllegalStateException("batch rows buffer moved during capture");
    return new CudaGraph(this, graph, generation);
  }

  void checkGraphStillValid(long generation) {
    ensureCurrent();
    if (rows.generation() != generation) {
      throw new IllegalStateException("the batch rows buffer was reallocated (a larger BatchRows came) after this graph"
          + " was captured: capture it again");
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Measurement

  /**
   * Device-to-device copy bandwidth in GB/s (1e9 bytes), counting bytes read plus bytes written:
   * the median of {@code repeats} timed cuMemcpyDtoDAsync of {@code bytes}.
   */
  public double copyBandwidth(long bytes, int repeats) {
    ensureCurrent();
    try (DeviceBuffer a = new DeviceBuffer("bandwidth source", bytes);
        DeviceBuffer b = new DeviceBuffer("bandwidth target", bytes);
        CudaEvent start = new CudaEvent();
        CudaEvent end = new CudaEvent()) {
      double[] rates = new double[repeats];
      for (int r = -2; r < repeats; r++) {
        start.record(stream);
        Cu.check("cuMemcpyDtoDAsync", () -> JCudaDriver.cuMemcpyDtoDAsync(b.pointer(), a.pointer(), bytes, stream.handle()));
        end.record(stream);
        end.synchronize();
        if (r >= 0) rates[r] = 2.0 * bytes / (end.millisSince(start) * 1e6);
      }
      java.util.Arrays.sort(rates);
      return rates[repeats / 2];
    }
  }

  @Override
  public long availableBytes() {
    return memoryInfo()[0];
  }

  @Override
  public String memoryName() {
    return "GPU";
  }

  /** Bytes of device memory free and total (cuMemGetInfo). */
  public long[] memoryInfo() {
    ensureCurrent();
    long[] free = new long[1], total = new long[1];
    Cu.check("cuMemGetInfo", () -> JCudaDriver.cuMemGetInfo(free, total));
    return new long[] {free[0], total[0]};
  }

  // ---------------------------------------------------------------------------------------------

  @Override
  public void close() {
    if (closed) return;
    ensureCurrent();
    List<RuntimeException> failures = new ArrayList<>();
    Runnable[] steps = {
        () -> stream.synchronize("closing the backend"),
        () -> { for (CudaKvCache c : new ArrayList<>(caches)) c.close(); },
        () -> { for (CudaTensor t : tensors) t.buffer().close(); tensors.clear(); },
        () -> { if (partial != null) partial.close(); },
        () -> { if (tickets != null) tickets.close(); },
        () -> { if (profiler != null) profiler.close(); if (profilerStopped != null) profilerStopped.close(); },
        () -> { if (xBf16 != null) xBf16.close(); },
        () -> { if (ids != null) ids.close(); },
        () -> { if (acceptOut != null) acceptOut.close(); },
        () -> { if (slotSampling != null) slotSampling.close(); },
        () -> { if (sampleMeta != null) sampleMeta.close(); },
        rows::close,
        () -> { if (cublas != null) cublas.close(); },
        modules::close,
        () -> { if (launchEx != null) launchEx.close(); },
        stream::close,
        () -> Cu.check("cuDevicePrimaryCtxRelease", () -> JCudaDriver.cuDevicePrimaryCtxRelease(device)),
    };
    for (Runnable step : steps) {
      try {
        step.run();
      } catch (RuntimeException e) {
        failures.add(e);
      }
    }
    closed = true;
    if (!failures.isEmpty()) {
      RuntimeException first = failures.getFirst();
      for (int i = 1; i < failures.size(); i++) first.addSuppressed(failures.get(i));
      throw first;
    }
  }
}
