package dev.tandem.model;

import java.util.AbstractMap;
import java.util.AbstractSet;
import java.util.Iterator;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;

/**
 * A model's fp32 tensors made on demand by a function (from a checkpoint whose matrices are kept in
 * their stored format): each {@link #get} builds a fresh array and nothing is kept. Unmodifiable.
 */
public final class LazyTensors extends AbstractMap<String, float[]> {
  private final Map<String, long[]> shapes;  // name -> shape, in the model's order
  private final Function<String, float[]> read;

  public LazyTensors(Map<String, long[]> shapes, Function<String, float[]> read) {
    this.shapes = shapes;
    this.read = read;
  }

  @Override
  public float[] get(Object key) {
    return shapes.containsKey(key) ? read.apply((String) key) : null;
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
