package dev.tandem.util;

import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonProcessingException;
import java.io.IOException;

/**
 * One line for a JSON parse error: the parser's own message without its source description (Jackson
 * writes "Source: REDACTED ..." and a second line) plus the line and column.
 */
public final class JsonErrors {
  private JsonErrors() {}

  public static String describe(IOException e) {
    if (e instanceof JsonProcessingException j) {
      String m = j.getOriginalMessage() == null ? "invalid JSON" : j.getOriginalMessage().lines().findFirst().orElse("");
      JsonLocation at = j.getLocation();
      return m + (at != null && at.getLineNr() > 0 ? " (line " + at.getLineNr() + ", column " + at.getColumnNr() + ")" : "");
    }
    return e.getMessage();
  }
}
