package dev.tandem.speculative;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Arrays;

/**
 * Counters of a speculative run, per request or summed, named as other engines name them (vLLM's
 * spec-decode metrics): verification rounds ("drafts"), draft tokens, accepted tokens, accepted per
 * draft position, mean accepted length = 1 + accepted / rounds (tokens emitted per round), primary
 * and secondary (drafter) runs, and the time split into draft, verify and refresh.
 */
public final class SpeedMetrics {
  public long rounds;
  public long draftTokens;
  public long acceptedTokens;
  public long emittedTokens;
  /** Sequences these counters cover (each one's first token comes from prefill, not decoding). */
  public long sequences;
  public long primaryRuns;
  public long drafterRuns;
  public long draftNanos;
  public long verifyNanos;
  public long refreshNanos;
  public long prefillNanos;
  public long decodeNanos;
  private long[] draftsAtPosition = new long[8];    // [i]: rounds with a draft at index i
  private long[] acceptedAtPosition = new long[8];  // [i]: of those, rounds where d_i was accepted

  /** Records one round: k drafts of which the first a were accepted. */
  public void recordRound(int k, int a) {
    rounds++;
    draftTokens += k;
    acceptedTokens += a;
    if (k > draftsAtPosition.length) {
      draftsAtPosition = Arrays.copyOf(draftsAtPosition, k);
      acceptedAtPosition = Arrays.copyOf(acceptedAtPosition, k);
    }
    for (int i = 0; i < k; i++) draftsAtPosition[i]++;
    for (int i = 0; i < a; i++) acceptedAtPosition[i]++;
  }

  public void add(SpeedMetrics o) {
    rounds += o.rounds;
    draftTokens += o.draftTokens;
    acceptedTokens += o.acceptedTokens;
    emittedTokens += o.emittedTokens;
    sequences += o.sequences;
    primaryRuns += o.primaryRuns;
    drafterRuns += o.drafterRuns;
    draftNanos += o.draftNanos;
    verifyNanos += o.verifyNanos;
    refreshNanos += o.refreshNanos;
    prefillNanos += o.prefillNanos;
    decodeNanos += o.decodeNanos;
    int n = Math.max(draftsAtPosition.length, o.draftsAtPosition.length);
    draftsAtPosition = Arrays.copyOf(draftsAtPosition, n);
    acceptedAtPosition = Arrays.copyOf(acceptedAtPosition, n);
    for (int i = 0; i < o.draftsAtPosition.length; i++) {
      draftsAtPosition[i] += o.draftsAtPosition[i];
      acceptedAtPosition[i] += o.acceptedAtPosition[i];
    }
  }

  /** 1 + accepted / rounds: tokens emitted per verification round. */
  public double meanAcceptedLength() {
    return rounds == 0 ? 0 : 1.0 + (double) acceptedTokens / rounds;
  }

  /** Fraction of draft tokens accepted. */
  public double acceptanceRate() {
    return draftTokens == 0 ? 0 : (double) acceptedTokens / draftTokens;
  }

  /** Acceptance rate of the draft at each index of a round (d_0, d_1, ...). */
  public double[] acceptedPerPosition() {
    int n = draftsAtPosition.length;
    while (n > 0 && draftsAtPosition[n - 1] == 0) n--;
    double[] rates = new double[n];
    for (int i = 0; i < n; i++) rates[i] = (double) acceptedAtPosition[i] / draftsAtPosition[i];
    return rates;
  }

  /** How often the draft at each index of a round was accepted (counts, for counters such as Prometheus'). */
  public long[] acceptedCountsPerPosition() {
    int n = draftsAtPosition.length;
    while (n > 0 && draftsAtPosition[n - 1] == 0) n--;
    return Arrays.copyOf(acceptedAtPosition, n);
  }

  /** Tokens per second after each sequence's first token (the decode phase). */
  public double decodeTokensPerSecond() {
    return decodeNanos == 0 || emittedTokens <= sequences ? 0 : (emittedTokens - sequences) * 1e9 / decodeNanos;
  }

  public ObjectNode toJson() {
    ObjectNode n = JsonNodeFactory.instance.objectNode();
    n.put("rounds", rounds);
    n.put("draft_tokens", draftTokens);
    n.put("accepted_tokens", acceptedTokens);
    n.put("emitted_tokens", emittedTokens);
    n.put("acceptance_rate", acceptanceRate());
    n.put("mean_accepted_length", meanAcceptedLength());
    var perPosition = n.putArray("accepted_per_position");
    for (double r : acceptedPerPosition()) perPosition.add(r);
    n.put("primary_runs", primaryRuns);
    n.put("drafter_runs", drafterRuns);
    n.put("prefill_ms", prefillNanos / 1e6);
    n.put("decode_ms", decodeNanos / 1e6);
    n.put("draft_ms", draftNanos / 1e6);
    n.put("verify_ms", verifyNanos / 1e6);
    n.put("refresh_ms", refreshNanos / 1e6);
    n.put("decode_tokens_per_second", decodeTokensPerSecond());
    return n;
  }
}
