package dev.tandem.engine;

import dev.tandem.backend.BatchRows;
import dev.tandem.backend.KvCache;
import dev.tandem.model.Decoder;
import dev.tandem.model.LogitsMode;
import dev.tandem.sampling.SamplingParams;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Plain autoregressive generation with one model: prefill the prompts (in chunks of the decoder's
 * rows per pass), then one pass per step over every unfinished sequence of the batch.
 */
public final class Generator {
  private final Decoder decoder;
  private final SamplingParams[] rowParams;     // [maxRows]: each logits row's sampling parameters
  private final long[] rowSequences;            // [maxRows]: each row's sequence id (the random counter)

  public Generator(Decoder decoder) {
    this.decoder = decoder;
    this.rowParams = new SamplingParams[decoder.maxRows()];
    this.rowSequences = new long[decoder.maxRows()];
  }

  /**
   * Picks the tokens of the last pass's logits rows 0..count on the backend: greedy batches by the
   * argmax, others by {@link Decoder#sampleLogits} (each row with its request's parameters); only
   * the ids leave the device.
   */
  private void pickTokens(List<GenerationRequest> requests, int[] requestOfRow, int count, int[] positionOfRow,
      int[] out) {
    boolean anySampled = false;
    for (int s = 0; s < count; s++) anySampled |= !requests.get(requestOfRow[s]).sampling().isGreedy();
    if (!anySampled) {
      decoder.argmaxLogits(out);  // the last pass has exactly count logits rows
      return;
    }
    for (int s = 0; s < count; s++) {
      GenerationRequest req = requests.get(requestOfRow[s]);
      rowParams[s] = req.sampling();
      rowSequences[s] = req.sequenceId();
    }
    decoder.sampleLogits(count, rowParams, rowSequences, positionOfRow, out);
  }

  public Decoder decoder() {
    return decoder;
  }

  public GenerationResult generate(GenerationRequest request, TokenListener listener) {
    return generate(List.of(request), listener).getFirst();
  }

  /** Generates for every request, batched; each result equals what the request gives alone. */
  public List<GenerationResult> generate(List<GenerationRequest> requests, TokenListener listener) {
    int count = requests.size();
    int vocab = decoder.config().vocabSize();
    int context = decoder.contextLength();
    for (int r = 0; r < count; r++) {
      GenerationRequest req = requests.get(r);
      if (req.prompt().length >= context && req.maxTokens() > 0) {
        throw new IllegalArgumentException("request " + r + ": the prompt has " + req.prompt().length
            + " tokens; with the context length of " + context + " there is no room for a new token");
      }
      if (req.prompt().length > context) {
        throw new IllegalArgumentException("request " + r + ": the prompt has " + req.prompt().length
            + " tokens, more than the context length of " + context);
      }
      for (int token : req.prompt()) {
        if (token < 0 || token >= vocab) {
          throw new IllegalArgumentException("request " + r + ": token id " + token + " outside the vocabulary [0, "
              + vocab + ")");
        }
      }
    }
    KvCache cache = decoder.newCache(count);
    BatchRows rows = new BatchRows(decoder.maxRows());
    List<List<Integer>> generated = new ArrayList<>();
    GenerationResult.FinishReason[] finish = new GenerationResult.FinishReason[count];
    long[] prefillNanos = new long[count];
    long[] decodeEnd = new long[count];
    int[] pending = new int[count];  // the last generated token, not yet fed to the model
    for (int r = 0; r < count; r++) generated.add(new ArrayList<>());
    int[] pendingToken = new int[1];
    int[] position = new int[Math.max(count, 1)];
    int[] picked = new int[Math.max(count, 1)];

    // Prefill, one request at a time in chunks (the last chunk gives the first new token).
    for (int r = 0; r < count; r++) {
      GenerationRequest req = requests.get(r);
      long start = System.nanoTime();
      int[] prompt = req.prompt();
      if (req.maxTokens() == 0) {
        finish[r] = GenerationResult.FinishReason.LENGTH;
        continue;
      }
      for (int done = 0; done < prompt.length; ) {
        int chunk = Math.min(decoder.maxRows(), prompt.length - done);
        boolean last = done + chunk == prompt.length;
        rows.clear();
        rows.addSequence(r, prompt, done, chunk, done);
        decoder.forward(rows, cache, last ? LogitsMode.LAST : LogitsMode.NONE);
        done += chunk;
      }
      position[0] = prompt.length;
      pickTokens(requests, new int[] {r}, 1, position, picked);
      int token = picked[0];
      prefillNanos[r] = System.nanoTime() - start;
      emit(r, token, req, generated, finish, cache, listener);
      pending[r] = token;
    }

    // Decode: one row per unfinished sequence per pass. Every request's decode time starts here.
    long decodeStart = System.nanoTime();
    Arrays.fill(decodeEnd, decodeStart);
    int[] active = new int[count];
    while (true) {
      int activeCount = 0;
      rows.clear();
      for (int r = 0; r < count && activeCount < decoder.maxRows(); r++) {
        if (finish[r] != null) continue;
        pendingToken[0] = pending[r];
        rows.addSequence(r, pendingToken, 0, 1, cache.length(r));
        active[activeCount++] = r;
      }
      if (activeCount == 0) break;
      decoder.forward(rows, cache, LogitsMode.LAST);
      for (int s = 0; s < activeCount; s++) position[s] = cache.length(active[s]);
      pickTokens(requests, active, activeCount, position, picked);
      for (int s = 0; s < activeCount; s++) {
        int r = active[s];
        GenerationRequest req = requests.get(r);
        int token = picked[s];
        emit(r, token, req, generated, finish, cache, listener);
        pending[r] = token;
        decodeEnd[r] = System.nanoTime();
      }
    }
    List<GenerationResult> results = new ArrayList<>();
    for (int r = 0; r < count; r++) {
      int[] tokens = generated.get(r).stream().mapToInt(Integer::intValue).toArray();
      long decodeNanos = decodeEnd[r] - decodeStart;
      results.add(new GenerationResult(tokens, finish[r], prefillNanos[r], decodeNanos));
    }
    cache.close();
    return results;
  }

  private void emit(int r, int token, GenerationRequest req, List<List<Integer>> generated,
      GenerationResult.FinishReason[] finish, KvCache cache, TokenListener listener) {
    generated.get(r).add(token);
    listener.onToken(r, token);
    if (token == req.stopToken()) {
      finish[r] = GenerationResult.FinishReason.STOP;
    } else if (generated.get(r).size() >= req.maxTokens()) {
      finish[r] = GenerationResult.FinishReason.LENGTH;
    } else if (cache.length(r) >= decoder.contextLength()) {
      finish[r] = GenerationResult.FinishReason.CONTEXT;  // no position left to feed the new token
    }
  }
}
