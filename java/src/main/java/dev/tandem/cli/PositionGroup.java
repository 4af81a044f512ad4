package dev.tandem.cli;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tandem.speculative.DrafterEvaluation;

/**
 * Table 1's metrics over one group of evaluated positions (e.g. the positions of a recall task that
 * the context determines, or the rest): the sums of {@link DrafterEvaluation.Position}s.
 */
public final class PositionGroup {
  public long positions;
  public long correct;
  public long primaryCorrect;
  public long agreement;
  public double nll;
  public double totalVariation;

  public void add(DrafterEvaluation.Position p) {
    positions++;
    if (p.drafterArgmax() == p.trueToken()) correct++;
    if (p.primaryArgmax() == p.trueToken()) primaryCorrect++;
    if (p.drafterArgmax() == p.primaryArgmax()) agreement++;
    nll -= p.drafterLogProb();
    totalVariation += p.totalVariation();
  }

  public double accuracy() {
    return (double) correct / positions;
  }

  public double primaryAccuracy() {
    return (double) primaryCorrect / positions;
  }

  public double meanTotalVariation() {
    return totalVariation / positions;
  }

  /** {@code positions}, {@code accuracy}, {@code total_variation}, {@code primary_accuracy}, and more; NaN as null. */
  public ObjectNode toJson() {
    ObjectNode n = JsonNodeFactory.instance.objectNode();
    n.put("positions", positions);
    put(n, "accuracy", accuracy());
    put(n, "total_variation", meanTotalVariation());
    put(n, "primary_accuracy", primaryAccuracy());
    put(n, "relative_accuracy", (double) agreement / positions);
    put(n, "cross_entropy", nll / positions);
    return n;
  }

  private static void put(ObjectNode n, String name, double v) {
    if (Double.isNaN(v)) n.putNull(name);
    else n.put(name, v);
  }
}
