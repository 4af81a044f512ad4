package dev.tandem.train;

import dev.tandem.backend.cpu.CpuBackend;
import dev.tandem.engine.GenerationRequest;
import dev.tandem.engine.GenerationResult;
import dev.tandem.engine.Engine;
import dev.tandem.engine.EngineBuilder;
import dev.tandem.engine.TokenListener;
import dev.tandem.model.ModelWeights;
import dev.tandem.sampling.SamplingParams;
import dev.tandem.train.data.PackedSequences;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Text the primary writes itself: each sequence is a prompt taken from the source text followed by the
 * primary's greedy continuation. Greedy SPEED drafts exactly such text (every accepted draft is the
 * primary's argmax), so the router's labels and the replay that picks its stop threshold are taken where
 * the drafter works, not on human text, which is harder to predict (the demo's drafts were accepted
 * 3.5 at a time at gamma 5 where the human text's total-variation distances predicted 3.0).
 *
 * <p>The result is packed like any training text: sequence i is tokens [i*T, i*T + T] of one stream, so
 * its last target is the next sequence's first token; callers that read targets skip the last position.
 */
public final class PrimaryContinuations {
  /** Sequences generated per batch (one decode pass per new token for all of them). */
  static final int BATCH = 8;

  private PrimaryContinuations() {}

  /**
   * {@code count} sequences of {@code source.seqLen()} tokens: the first {@code promptTokens} of source
   * sequences {@code source.sequenceAt(0..count-1)} (its cursor order), then the primary's greedy tokens.
   */
  public static PackedSequences generate(ModelWeights primary, PackedSequences source, int count, int promptTokens,
      int threads, Progress progress) {
    int seqLen = source.seqLen();
    if (promptTokens < 1 || promptTokens >= seqLen) {
      throw new IllegalArgumentException("prompt tokens must be in [1, " + seqLen + "), got " + promptTokens);
    }
    if (count < 1 || count > source.count()) {
      throw new IllegalArgumentException("asked for " + count + " continuations of a text with " + source.count()
          + " sequences of " + seqLen + " tokens");
    }
    int newTokens = seqLen - promptTokens;
    int[] stream = new int[count * seqLen + 1];  // the last token: a target no sequence reads
    int[] inputs = new int[seqLen], targets = new int[seqLen];
    long start = System.nanoTime();
    try (CpuBackend backend = CpuBackend.fast(threads);
        Engine engine = EngineBuilder.primary(primary, null).backend(backend).context(seqLen + 1).slots(BATCH)
            .prefillBudget(Math.max(BATCH, promptTokens)).build()) {
      for (int first = 0; first < count; first += BATCH) {
        List<GenerationRequest> requests = new ArrayList<>();
        for (int i = first; i < Math.min(count, first + BATCH); i++) {
          source.copy(source.sequenceAt(i), inputs, targets, 0);
          int[] prompt = Arrays.copyOf(inputs, promptTokens);
          System.arraycopy(prompt, 0, stream, i * seqLen, promptTokens);
          requests.add(new GenerationRequest(prompt, newTokens, SamplingParams.greedy(), -1, i));
        }
        List<GenerationResult> results = engine.generateAll(requests, TokenListener.NONE);
        for (int r = 0; r < results.size(); r++) {
          int[] tokens = results.get(r).tokens();
          if (tokens.length != newTokens) throw new IllegalStateException("continuation " + (first + r) + " stopped after "
              + tokens.length + " of " + newTokens + " tokens (" + results.get(r).finishReason() + ")");
          System.arraycopy(tokens, 0, stream, (first + r) * seqLen + promptTokens, newTokens);
        }
        int done = Math.min(count, first + BATCH);
        double seconds = (System.nanoTime() - start) / 1e9;
        progress.update(done, (double) done * newTokens / seconds, seconds * (count - done) / done);
      }
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
    return new PackedSequences(stream, seqLen, 0);
  }
}
