package dev.tandem.backend.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * Needs no GPU: the committed PTX (as the jar carries it) matches the kernel sources, has every
 * entry the Java side launches, and each launcher packs the parameters its entry declares, in
 * number, kind and order.
 */
class PtxContractTest {
  /** One sample argument list per kernel, built by the launcher the backend uses. */
  static Map<Kernel, KernelArgs> samples() {
    Map<Kernel, KernelArgs> m = new EnumMap<>(Kernel.class);
    m.put(Kernel.EMBED, Embed.args(1, 2, 3, 4, 5, 6));
    m.put(Kernel.RMSNORM, RmsNorm.args(1, 2, 3, 4, 5, 1e-5f));
    m.put(Kernel.ROPE, Rope.args(1, 2, 3, 4, 5, 6, 7, 8));
    m.put(Kernel.ROPE_KV_STORE, Rope.fusedArgs(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16));
    m.put(Kernel.SWIGLU, Swiglu.args(1, 2, 3, 4));
    m.put(Kernel.ADD, ResidualAdd.args(1, 2, 3));
    m.put(Kernel.ADD_BIAS, ResidualAdd.biasArgs(1, 2, 3, 4));
    m.put(Kernel.COPY_ROWS, CopyRows.args(1, 2, 3));
    m.put(Kernel.KV_STORE, KvStore.args(1, 2, 3, 4, 5, 6, 7, 8, 9, 10));
    m.put(Kernel.ATTENTION_BLOCK, Attention.blockArgs(1, 2, 3, 4, 5, 6, 7, 8, 4, 64, 256, 0.125f));
    m.put(Kernel.ATTENTION_DECODE_D64, Attention.decodeArgs(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 4, 64, 256, 0.125f));
    m.put(Kernel.ATTENTION_DECODE_D128, Attention.decodeArgs(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 4, 128, 256, 0.125f));
    m.put(Kernel.ARGMAX, Argmax.args(1, 2, 3, 4));
    m.put(Kernel.ARGMAX_DRAFTS, Argmax.draftArgs(1, 2, 3, 4, 5, 6, 7));
    m.put(Kernel.TOKENS_FROM_DRAFTS, DraftRounds.tokensArgs(1, 2, 3, 4, 5, 6));
    m.put(Kernel.GREEDY_ACCEPT, DraftRounds.acceptArgs(1, 2, 3, 4, 5, 6, 7));
    m.put(Kernel.SAMPLE, Sample.args(1, 2, 3, 4, 5));
    m.put(Kernel.SAMPLE_DRAFTS, Sample.draftArgs(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11));
    m.put(Kernel.REJECTION, Sample.rejectionArgs(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11));
    for (Kernel k : List.of(Kernel.MATMUL_N1, Kernel.MATMUL_N2, Kernel.MATMUL_N4, Kernel.MATMUL_N8)) {
      m.put(k, Matmul.smallArgs(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 1e-5f, Matmul.NORM));
    }
    m.put(Kernel.MATMUL_TILED, Matmul.tiledArgs(1, 2, 3, 4, 5, 6));
    m.put(Kernel.CONVERT_BF16, Matmul.convertArgs(1, 2, 3));
    return m;
  }

  private static String ptx(String module) {
    byte[] bytes = PtxModules.readPtx("/native/" + module + ".ptx");
    return new String(bytes, 0, bytes.length - 1, StandardCharsets.UTF_8);
  }

  /** The parameter kinds of an .entry, in order; null when the PTX has no such entry. */
  static List<KernelArgs.Kind> entryParameters(String ptx, String entry) {
    Matcher m = Pattern.compile("\\.entry\\s+" + Pattern.quote(entry) + "\\s*\\(([^)]*)\\)").matcher(ptx);
    if (!m.find()) return null;
    List<KernelArgs.Kind> kinds = new ArrayList<>();
    Matcher p = Pattern.compile("\\.param\\s+(?:\\.align\\s+\\d+\\s+)?\\.(\\w+)\\s+\\S+").matcher(m.group(1));
    while (p.find()) {
      kinds.add(switch (p.group(1)) {
        case "u64", "s64", "b64" -> KernelArgs.Kind.U64;
        case "u32", "s32", "b32" -> KernelArgs.Kind.U32;
        case "f32" -> KernelArgs.Kind.F32;
        default -> throw new AssertionError("unexpected PTX parameter type ." + p.group(1) + " in " + entry);
      });
    }
    return kinds;
  }

  /** The PTX folders the backend loads from: compute_80, and compute_90 from Hopper on. */
  static final List<String> VARIANTS = List.of("", "sm90/");

  @Test
  void everyLaunchedKernelIsAnEntryOfTheCommittedPtx() {
    for (String variant : VARIANTS) {
      for (Kernel k : Kernel.values()) {
        assertThat(entryParameters(ptx(variant + k.module), k.entry))
            .as("entry %s in native/%s%s.ptx (run ./build-native.sh after editing kernels/)", k.entry, variant, k.module)
            .isNotNull();
      }
    }
  }

  @Test
  void launchersPackTheParametersTheEntriesDeclare() {
    Map<Kernel, KernelArgs> samples = samples();
    assertThat(samples.keySet()).as("a sample for every kernel").containsExactlyInAnyOrder(Kernel.values());
    for (String variant : VARIANTS) {
      for (Kernel k : Kernel.values()) {
        assertThat(samples.get(k).kinds())
            .as("parameters of %s (native/%s PTX) vs its Java launcher", k.entry, variant)
            .containsExactlyElementsOf(entryParameters(ptx(variant + k.module), k.entry));
      }
    }
  }

  @Test
  void ptxTargetsComputeCapability80AndTheHopperVariant90() {
    for (Kernel k : Kernel.values()) {
      assertThat(ptx(k.module)).as("native/%s.ptx", k.module).contains(".target sm_80").doesNotContain("griddepcontrol");
      assertThat(ptx("sm90/" + k.module)).as("native/sm90/%s.ptx", k.module).contains(".target sm_90");
    }
    assertThat(PtxModules.variantFor(8)).isEmpty();
    assertThat(PtxModules.variantFor(9)).isEqualTo("sm90/");
    assertThat(PtxModules.variantFor(10)).isEqualTo("sm90/");
  }

  /**
   * Under programmatic dependent launch a kernel may start before its predecessor ends, so every
   * entry of the Hopper PTX must wait (griddepcontrol.wait) before it reads activations or exits, and
   * release its successor (griddepcontrol.launch_dependents); without this a PDL launch would race.
   */
  @Test
  void everyHopperEntryWaitsForItsPredecessorAndReleasesItsSuccessor() {
    for (Kernel k : Kernel.values()) {
      String body = entryBody(ptx("sm90/" + k.module), k.entry);
      int wait = body.indexOf("griddepcontrol.wait");
      assertThat(wait).as("griddepcontrol.wait in %s", k.entry).isGreaterThanOrEqualTo(0);
      assertThat(body).as("griddepcontrol.launch_dependents in %s", k.entry).contains("griddepcontrol.launch_dependents");
      // Before the wait: no global load other than the matmul's L2 prefetch of the (immutable) weights, and no exit.
      String prologue = body.substring(0, wait);
      assertThat(prologue).as("%s reads global memory before griddepcontrol.wait", k.entry).doesNotContain("ld.global");
      assertThat(prologue).as("%s may exit before griddepcontrol.wait", k.entry).doesNotContain("ret;");
    }
  }

  /** The text of an .entry from its name to the end of its body (the next .entry or the end). */
  static String entryBody(String ptx, String entry) {
    Matcher m = Pattern.compile("\\.entry\\s+" + Pattern.quote(entry) + "\\s*\\(").matcher(ptx);
    assertThat(m.find()).as("entry %s", entry).isTrue();
    int next = ptx.indexOf(".entry", m.end());
    return ptx.substring(m.end(), next < 0 ? ptx.length() : next);
  }

  /** kernels/ next to the working directory (repository root) or one level up (Maven runs in java/). */
  static Path kernelsDir() {
    for (Path p : List.of(Path.of("kernels"), Path.of("../kernels"))) {
      if (Files.isDirectory(p)) return p;
    }
    throw new AssertionError("kernels/ not found from " + Path.of("").toAbsolutePath());
  }

  private static String sha256(byte[] bytes) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
    } catch (NoSuchAlgorithmException e) {
      throw new AssertionError(e);
    }
  }

  private static String manifest() throws IOException {
    try (InputStream in = PtxContractTest.class.getResourceAsStream("/native/MANIFEST")) {
      assertThat(in).as("native/MANIFEST in the jar").isNotNull();
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
  }

  @Test
  void manifestMatchesTheKernelSourcesAndThePtx() throws IOException {
    Map<String, String> sources = new TreeMap<>(), ptxs = new TreeMap<>();
    for (String line : manifest().lines().toList()) {
      String[] f = line.split(" ");
      if (f[0].equals("source")) sources.put(f[2], f[1]);
      if (f[0].equals("ptx")) ptxs.put(f[2], f[1]);
    }
    Map<String, String> actual = new TreeMap<>();
    Path dir = kernelsDir();
    try (Stream<Path> files = Files.list(dir)) {
      for (Path p : files.filter(p -> p.toString().endsWith(".cu") || p.toString().endsWith(".cuh")).toList()) {
        actual.put("kernels/" + p.getFileName(), sha256(Files.readAllBytes(p)));
      }
    }
    String stale = "native/ is stale: run ./build-native.sh (needs nvcc) and commit native/";
    assertThat(actual).as(stale + " (kernel sources vs native/MANIFEST)").isEqualTo(sources);
    for (Map.Entry<String, String> e : ptxs.entrySet()) {
      String module = e.getKey().replace("native/", "").replace(".ptx", "");
      byte[] bytes = PtxModules.readPtx("/native/" + module + ".ptx");
      byte[] text = java.util.Arrays.copyOf(bytes, bytes.length - 1);
      assertThat(sha256(text)).as(stale + " (%s vs native/MANIFEST)", e.getKey()).isEqualTo(e.getValue());
    }
    for (Kernel k : Kernel.values()) assertThat(ptxs).containsKey("native/" + k.module + ".ptx");
  }
}
