package dev.tandem.io;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The parsed and validated header of a safetensors file: 8 bytes little-endian header length N, N bytes
 * of UTF-8 JSON, then the data section. Every check that can be made without reading tensor data is made
 * here, so that a file that parses can be read without further surprises.
 *
 * @param dataStart byte offset of the data section in the file ({@code 8 + N})
 * @param metadata the {@code __metadata__} map, in header order (empty if absent)
 * @param tensors the tensors in file order: by position of their data, ties in header order
 */
record SafetensorsHeader(long dataStart, Map<String, String> metadata, List<TensorInfo> tensors) {

  /** Headers beyond this are refused, as by the Hugging Face library: it is not a safetensors file. */
  static final long MAX_HEADER_BYTES = 100_000_000;

  static final String METADATA_KEY = "__metadata__";

  private static final ValueLayout.OfLong U64_LE =
      ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

  private static final ObjectMapper JSON = JsonMapper.builder()
      .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
      .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
      .build();

  /**
   * Parses and validates the header of {@code bytes}, the whole content of {@code file}.
   *
   * @throws SafetensorsException naming the file and the first problem found
   */
  static SafetensorsHeader parse(Path file, MemorySegment bytes) throws SafetensorsException {
    long fileSize = bytes.byteSize();
    if (fileSize < 8) {
      throw new SafetensorsException(file, file + " is truncated: it has " + fileSize
          + " bytes, but a safetensors file starts with an 8-byte header length");
    }
    long headerLength = bytes.get(U64_LE, 0);
    if (headerLength < 0 || headerLength > MAX_HEADER_BYTES) {
      throw new SafetensorsException(file, file + " declares a header of " + Long.toUnsignedString(headerLength)
          + " bytes, over the limit of " + MAX_HEADER_BYTES + "; it is corrupt or not a safetensors file");
    }
    if (headerLength > fileSize - 8) {
      throw new SafetensorsException(file, file + " is truncated: it declares a header of " + headerLength
          + " bytes, but only " + (fileSize - 8) + " bytes follow the header length");
    }
    long dataStart = 8 + headerLength;
    long dataSize = fileSize - dataStart;
    JsonNode root = readJson(file, bytes.asSlice(8, headerLength).toArray(ValueLayout.JAVA_BYTE));

    Map<String, String> metadata = Map.of();
    List<TensorInfo> tensors = new ArrayList<>();
    for (Map.Entry<String, JsonNode> field : root.properties()) {
      if (field.getKey().equals(METADATA_KEY)) {
        metadata = readMetadata(file, field.getValue());
      } else {
        tensors.add(readTensor(file, field.getKey(), field.getValue(), dataSize));
      }
    }
    tensors.sort(Comparator.comparingLong(TensorInfo::begin)); // stable: ties keep header order
    requireNoOverlap(file, tensors);
    return new SafetensorsHeader(dataStart, metadata, Collections.unmodifiableList(tensors));
  }

  private static JsonNode readJson(Path file, byte[] json) throws SafetensorsException {
    JsonNode root;
    try {
      root = JSON.readTree(json);
    } catch (JacksonException e) {
      throw new SafetensorsException(file, "the header of " + file + " is not valid JSON: "
          + e.getOriginalMessage(), e);
    } catch (IOException e) {
      throw new SafetensorsException(file, "the header of " + file + " cannot be read: " + e.getMessage(), e);
    }
    if (root == null || !root.isObject()) {
      String found = root == null ? "nothing" : kind(root);
      throw new SafetensorsException(file, "the header of " + file
          + " must be a JSON object mapping tensor names to entries, but holds " + found);
    }
    return root;
  }

  private static Map<String, String> readMetadata(Path file, JsonNode node) throws SafetensorsException {
    if (node.isNull()) return Map.of();
    if (!node.isObject()) {
      throw new SafetensorsException(file, METADATA_KEY + " in " + file
          + " must be a JSON object of strings, but is " + kind(node));
    }
    Map<String, String> metadata = new LinkedHashMap<>();
    for (Map.Entry<String, JsonNode> field : node.properties()) {
      if (!field.getValue().isTextual()) {
        throw new SafetensorsException(file, METADATA_KEY + " in " + file + " must map strings to strings, but "
            + field.getKey() + " is " + kind(field.getValue()) + ": " + field.getValue());
      }
      metadata.put(field.getKey(), field.getValue().textValue());
    }
    return Collections.unmodifiableMap(metadata);
  }

  private static TensorInfo readTensor(Path file, String name, JsonNode entry, long dataSize)
      throws SafetensorsException {
    String where = "tensor " + name + " in " + file;
    if (!entry.isObject()) {
      throw new SafetensorsException(file, where + " must be a JSON object with dtype, shape and data_offsets, "
          + "but is " + kind(entry) + ": " + entry);
    }
    DType dtype = readDtype(file, where, required(file, where, entry, "dtype"));
    long[] shape = readShape(file, where, required(file, where, entry, "shape"));
    long[] offsets = readOffsets(file, where, required(file, where, entry, "data_offsets"));
    long begin = offsets[0];
    long end = offsets[1];
    if (end > dataSize) {
      throw new SafetensorsException(file, file + " is truncated: tensor " + name + " ends at byte " + end
          + " of the data section, but the data section has only " + dataSize + " bytes");
    }
    long expectedBytes;
    try {
      expectedBytes = Math.multiplyExact(Shapes.numel(shape), dtype.byteSize());
    } catch (ArithmeticException e) {
      throw new SafetensorsException(file, where + " has shape " + Shapes.format(shape)
          + " whose size in bytes overflows 64 bits; the header is corrupt");
    }
    if (end - begin != expectedBytes) {
      throw new SafetensorsException(file, where + " has " + (end - begin) + " bytes of data (data_offsets ["
          + begin + ", " + end + "]), but dtype " + dtype + " and shape " + Shapes.format(shape) + " need "
          + expectedBytes + " bytes");
    }
    return new TensorInfo(name, dtype, shape, begin, end);
  }

  private static JsonNode required(Path file, String where, JsonNode entry, String key)
      throws SafetensorsException {
    JsonNode value = entry.get(key);
    if (value == null) {
      throw new SafetensorsException(file, where + " has no " + key
          + " (each entry needs dtype, shape and data_offsets): " + entry);
    }
    return value;
  }

  private static DType readDtype(Path file, String where, JsonNode node) throws SafetensorsException {
    if (!node.isTextual()) {
      throw new SafetensorsException(file, where + " has dtype " + node + ", " + kind(node)
          + "; it must be a string such as \"F32\"");
    }
    try {
      return DType.fromSafetensorsName(node.textValue());
    } catch (IllegalArgumentException e) {
      throw new SafetensorsException(file, where + " has " + e.getMessage(), e);
    }
  }

  private static long[] readShape(Path file, String where, JsonNode node) throws SafetensorsException {
    if (!node.isArray()) {
      throw new SafetensorsException(file, where + " has shape " + node + ", " + kind(node)
          + "; it must be an array of integers such as [2, 3]");
    }
    long[] shape = new long[node.size()];
    for (int i = 0; i < shape.length; i++) {
      JsonNode dim = node.get(i);
      if (!dim.isIntegralNumber() || !dim.canConvertToLong()) {
        throw new SafetensorsException(file, where + " has shape " + node
            + "; every dimension must be an integer that fits in 64 bits");
      }
      shape[i] = dim.longValue();
    }
    for (long dim : shape) {
      if (dim < 0) {
        throw new SafetensorsException(file, where + " has a negative dimension in shape " + Shapes.format(shape));
      }
    }
    try {
      Shapes.numel(shape);
    } catch (ArithmeticException e) {
      throw new SafetensorsException(file, where + " has shape " + Shapes.format(shape)
          + " whose element count overflows 64 bits; the header is corrupt");
    }
    return shape;
  }

  private static long[] readOffsets(Path file, String where, JsonNode node) throws SafetensorsException {
    boolean wellFormed = node.isArray() && node.size() == 2;
    for (int i = 0; wellFormed && i < 2; i++) {
      wellFormed = node.get(i).isIntegralNumber() && node.get(i).canConvertToLong() && node.get(i).longValue() >= 0;
    }
    if (!wellFormed || node.get(0).longValue() > node.get(1).longValue()) {
      throw new SafetensorsException(file, where + " has data_offsets " + node
          + "; they must be [begin, end], two non-negative integers with begin <= end");
    }
    return new long[] {node.get(0).longValue(), node.get(1).longValue()};
  }

  /** {@code sorted} is ordered by {@code begin}. Empty tensors own no bytes and overlap nothing. */
  private static void requireNoOverlap(Path file, List<TensorInfo> sorted) throws SafetensorsException {
    TensorInfo reachesFurthest = null;
    for (TensorInfo tensor : sorted) {
      if (tensor.byteSize() == 0) continue;
      if (reachesFurthest != null && tensor.begin() < reachesFurthest.end()) {
        throw new SafetensorsException(file, "tensors " + reachesFurthest.name() + " and " + tensor.name()
            + " in " + file + " overlap: their data_offsets are [" + reachesFurthest.begin() + ", "
            + reachesFurthest.end() + "] and [" + tensor.begin() + ", " + tensor.end() + "]");
      }
      if (reachesFurthest == null || tensor.end() > reachesFurthest.end()) reachesFurthest = tensor;
    }
  }

  /** "an array", "a string", ... for messages. */
  private static String kind(JsonNode node) {
    return switch (node.getNodeType()) {
      case ARRAY -> "an array";
      case OBJECT, POJO -> "an object";
      case STRING -> "a string";
      case NUMBER -> "a number";
      case BOOLEAN -> "a boolean";
      case NULL -> "null";
      case BINARY -> "binary data";
      case MISSING -> "nothing";
    };
  }
}
