package dev.tandem.cli;

import dev.tandem.engine.SpeculationPolicy;
import java.util.Locale;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.TypeConversionException;

/** {@code --speculation adaptive|fixed}. */
public final class SpeculationModeConverter implements ITypeConverter<SpeculationPolicy.Mode> {
  @Override
  public SpeculationPolicy.Mode convert(String value) {
    return switch (value.toLowerCase(Locale.ROOT)) {
      case "adaptive" -> SpeculationPolicy.Mode.ADAPTIVE;
      case "fixed" -> SpeculationPolicy.Mode.FIXED;
      default -> throw new TypeConversionException("--speculation is adaptive or fixed, got '" + value + "'");
    };
  }
}
