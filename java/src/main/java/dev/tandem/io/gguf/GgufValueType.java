package dev.tandem.io.gguf;

/** The types of GGUF metadata values, with their ids in the file format. */
public enum GgufValueType {
  UINT8(0, 1), INT8(1, 1), UINT16(2, 2), INT16(3, 2), UINT32(4, 4), INT32(5, 4), FLOAT32(6, 4), BOOL(7, 1),
  STRING(8, 8), ARRAY(9, 12), UINT64(10, 8), INT64(11, 8), FLOAT64(12, 8);

  private final int id;
  private final int minBytes; // the fewest bytes a value of this type takes in the file

  GgufValueType(int id, int minBytes) {
    this.id = id;
    this.minBytes = minBytes;
  }

  public int id() {
    return id;
  }

  /** Bytes of a value: exact for numbers and bool, the length prefix for strings and arrays. */
  int minBytes() {
    return minBytes;
  }

  boolean isInteger() {
    return switch (this) {
      case UINT8, INT8, UINT16, INT16, UINT32, INT32, UINT64, INT64 -> true;
      default -> false;
    };
  }

  /** The type with this id, or null. */
  static GgufValueType of(long id) {
    for (GgufValueType t : values()) if (t.id == id) return t;
    return null;
  }
}
