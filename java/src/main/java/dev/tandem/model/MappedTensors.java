package dev.tandem.model;

import dev.tandem.io.SafetensorsException;
import dev.tandem.io.SafetensorsShards;
import java.io.UncheckedIOException;
import java.util.AbstractMap;
import java.util.AbstractSet;
import java.util.Iterator;
import java.util.Map;
import java.util.Set;

/**
 * A model's tensors read on demand from its memory-mapped safetensors files: {@link #get} converts
 * the stored tensor (F32, BF16 or F16) to a fresh {@code float[]} on every call and keeps nothing, so
 * loading a model for a backend that copies the weights (packed panels on the CPU, bf16 on the GPU)
 * holds one fp32 tensor at a time on the heap instead of the whole model. Presence, shapes and dtypes
 * are checked when the model is loaded ({@link ModelWeights#load}). Unmodifiable; the mapping lives as
 * long as this map.
 */
final class MappedTensors extends AbstractMap<String, float[]> {
  private final SafetensorsShards files;
  private final Map<String, long[]> shapes;  // name -> shape, in the model's order

  MappedTensors(SafetensorsShards files, Map<String, long[]> shapes) {
    this.files = files;
    this.shapes = shapes;
  }

  @Override
  public float[] get(Object key) {
    long[] shape = shapes.get(key);
    if (shape == null) return null;
    try {
      return files.readFloats((String) key, shape);
    } catch (SafetensorsException e) {
      throw new UncheckedIOException(e);
    }
  }

  @Override
  public boolean containsKey(Object key) {
    return shapes.containsKey(key);
  }

  @Override
  public int size() {
    return shapes.size();
  }

  @Override
  public Set<Entry<String, float[]>> entrySet() {
    return new AbstractSet<>() {
      @Override
      public Iterator<Entry<String, float[]>> iterator() {
        Iterator<String> names = shapes.keySet().iterator();
        return new Iterator<>() {
          @Override public boolean hasNext() { return names.hasNext(); }
          @Override public Entry<String, float[]> next() {
            String name = names.next();
            return new SimpleImmutableEntry<>(name, get(name));
          }
        };
      }

      @Override
      public int size() {
        return shapes.size();
      }
    };
  }
}
