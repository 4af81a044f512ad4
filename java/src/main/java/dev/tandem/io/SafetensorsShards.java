package dev.tandem.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The safetensors weights of a Hugging Face model directory, in one file ({@code model.safetensors})
 * or sharded ({@code model.safetensors.index.json} naming {@code model-0000N-of-0000M.safetensors}
 * files in its {@code weight_map}), read through one name space. Every shard is memory-mapped and
 * validated on {@link #open}; {@link #close} unmaps them all.
 */
public final class SafetensorsShards implements AutoCloseable {
  public static final String SINGLE_FILE = "model.safetensors";
  public static final String INDEX_FILE = "model.safetensors.index.json";

  private static final ObjectMapper JSON = new ObjectMapper();

  private final List<SafetensorsFile> files;
  private final Map<String, SafetensorsFile> byName; // in shard order, file order within a shard

  private SafetensorsShards(List<SafetensorsFile> files, Map<String, SafetensorsFile> byName) {
    this.files = files;
    this.byName = byName;
  }

  /** Whether {@code dir} holds weights this class can open. */
  public static boolean present(Path dir) {
    return Files.isRegularFile(dir.resolve(SINGLE_FILE)) || Files.isRegularFile(dir.resolve(INDEX_FILE));
  }

  /**
   * Opens {@code dir/model.safetensors}, or else the shards that {@code dir/model.safetensors.index.json}
   * lists.
   *
   * @throws IOException if neither exists, the index is malformed or names a missing shard, or a
   *     shard lacks a tensor the index places in it (the message names the file)
   */
  public static SafetensorsShards open(Path dir) throws IOException {
    return open(dir, false);
  }

  /** As {@link #open(Path)}; {@code unmappedByGc} as in {@link SafetensorsFile#open(Path, boolean)}. */
  public static SafetensorsShards open(Path dir, boolean unmappedByGc) throws IOException {
    Path single = dir.resolve(SINGLE_FILE);
    if (Files.isRegularFile(single)) {
      SafetensorsFile file = SafetensorsFile.open(single, unmappedByGc);
      Map<String, SafetensorsFile> byName = new LinkedHashMap<>();
      for (TensorInfo t : file.tensors()) byName.put(t.name(), file);
      return new SafetensorsShards(List.of(file), byName);
    }
    Path index = dir.resolve(INDEX_FILE);
    if (!Files.isRegularFile(index)) {
      throw new IOException("model directory " + dir + " has neither " + SINGLE_FILE + " nor " + INDEX_FILE);
    }
    JsonNode root;
    try {
      root = JSON.readTree(index.toFile());
    } catch (IOException e) {
      throw new IOException(index + ": malformed JSON: " + dev.tandem.util.JsonErrors.describe(e), e);
    }
    JsonNode weightMap = root == null ? null : root.get("weight_map");
    if (weightMap == null || !weightMap.isObject() || weightMap.isEmpty()) {
      throw new IOException(index + ": no \"weight_map\" object naming the shard of each tensor");
    }
    Map<String, SafetensorsFile> shardByFile = new LinkedHashMap<>();
    Map<String, SafetensorsFile> byName = new LinkedHashMap<>();
    List<SafetensorsFile> opened = new ArrayList<>();
    try {
      for (Map.Entry<String, JsonNode> e : weightMap.properties()) {
        String shardName = e.getValue().asText("");
        if (!e.getValue().isTextual() || shardName.isEmpty() || shardName.contains("/") || shardName.contains("\\")
            || shardName.startsWith(".")) {
          throw new IOException(index + ": tensor " + e.getKey() + " maps to \"" + e.getValue().asText()
              + "\", which is not a file name in the model directory");
        }
        SafetensorsFile shard = shardByFile.get(shardName);
        if (shard == null) {
          Path shardPath = dir.resolve(shardName);
          if (!Files.isRegularFile(shardPath)) {
            throw new IOException(index + " names shard " + shardName + ", which is missing from " + dir);
          }
          shard = SafetensorsFile.open(shardPath, unmappedByGc);
          opened.add(shard);
          shardByFile.put(shardName, shard);
        }
        if (!shard.has(e.getKey())) {
          throw new IOException(index + " places tensor " + e.getKey() + " in " + shardName + ", which does not hold it");
        }
        byName.put(e.getKey(), shard);
      }
    } catch (Throwable t) {
      for (SafetensorsFile f : opened) f.close();
      throw t;
    }
    return new SafetensorsShards(List.copyOf(opened), byName);
  }

  /** The shards, in the order the index first names them. */
  public List<SafetensorsFile> files() {
    return files;
  }

  /** Every tensor name, shard by shard. */
  public List<String> names() {
    return List.copyOf(byName.keySet());
  }

  public boolean has(String name) {
    return byName.containsKey(name);
  }

  /** The file that holds a tensor. */
  public SafetensorsFile fileOf(String name) throws SafetensorsException {
    SafetensorsFile f = byName.get(name);
    if (f == null) {
      Path where = files.isEmpty() ? Path.of("") : files.getFirst().path().getParent();
      throw new SafetensorsException(where, "tensor " + name + " missing from the weights in " + where);
    }
    return f;
  }

  public TensorInfo info(String name) throws SafetensorsException {
    return fileOf(name).info(name);
  }

  /** Raw bytes of a tensor, valid until {@link #close}. */
  public MemorySegment data(String name) throws SafetensorsException {
    return fileOf(name).data(name);
  }

  /** A tensor's elements as floats, after checking its shape. */
  public float[] readFloats(String name, long... expectedShape) throws SafetensorsException {
    return fileOf(name).readFloats(name, expectedShape);
  }

  /** Checks a tensor's presence, shape and dtype without reading it. */
  public void checkFloats(String name, long... expectedShape) throws SafetensorsException {
    fileOf(name).checkFloats(name, expectedShape);
  }

  @Override
  public void close() {
    for (SafetensorsFile f : files) f.close();
  }
}
