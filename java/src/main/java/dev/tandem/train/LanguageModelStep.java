package dev.tandem.train;

import dev.tandem.backend.cpu.WorkerPool;

/**
 * One training (or evaluation) step of a student model on a batch, with an optional frozen primary:
 * the primary's forward pass (no gradients) supplies its residual streams at the layers a tandem
 * student reads, and its logits as soft targets; then the student's forward, the loss
 * {@code hardWeight * CE(targets) + softWeight * CE(softmax(primary logits))}, and the student's
 * backward. Every recipe is this step with other weights: plain CE (no primary), distillation
 * (plain student, primary logits), Tandem-CE (tandem student, primary states), Tandem-Distil (both).
 */
public final class LanguageModelStep {
  /** Mean losses over the batch's counted rows. */
  public record Losses(double loss, double hard, double soft, int rows) {}

  public final TrainModel student;
  public final TrainModel primary;  // frozen, or null
  private final Gemm gemm;
  private final float hardWeight;
  private final float softWeight;
  private final Activations a;       // student
  private final Activations pa;      // primary (no saved layers), or null
  private final float[][] hP;        // [L_P + 1] primary residual streams read by a tandem student, else null
  private final int[] targets;       // [rows]
  private final float[] hardLoss;    // [rows]
  private final float[] softLoss;    // [rows]

  public LanguageModelStep(Gemm gemm, TrainModel student, TrainModel primary, float hardWeight, float softWeight,
      int batch, int seqLen, boolean train) {
    if (student.isTandem() && primary == null) throw new IllegalArgumentException("a tandem student needs its primary");
    if (softWeight != 0 && primary == null) throw new IllegalArgumentException("distillation needs a primary");
    if (primary != null && primary.config.vocabSize() != student.config.vocabSize()) {
      throw new IllegalArgumentException("the primary's vocabulary (" + primary.config.vocabSize()
          + ") differs from the student's (" + student.config.vocabSize() + ")");
    }
    this.gemm = gemm;
    this.student = student;
    this.primary = primary;
    this.hardWeight = hardWeight;
    this.softWeight = softWeight;
    a = new Activations(student.config, student.isTandem(), batch, seqLen, train);
    pa = primary == null ? null : new Activations(primary.config, false, batch, seqLen, false);
    int rows = batch * seqLen;
    if (student.isTandem()) {
      if (student.primaryHidden != primary.config.hiddenSize()) {
        throw new IllegalArgumentException("the tandem student expects a primary of width " + student.primaryHidden
            + ", this primary has " + primary.config.hiddenSize());
      }
      hP = new float[primary.config.numHiddenLayers() + 1][];
      for (int l : student.primaryLayersRead()) hP[l] = new float[rows * primary.config.hiddenSize()];
    } else {
      hP = null;
    }
    targets = new int[rows];
    hardLoss = new float[rows];
    softLoss = new float[rows];
  }

  public Activations activations() {
    return a;
  }

  public WorkerPool pool() {
    return gemm.pool();
  }

  public Gemm gemm() {
    return gemm;
  }

  /** Input tokens of the next step, [batch*seqLen] (fill before {@link #run}). */
  public int[] inputs() {
    return a.tokens;
  }

  /** Targets of the next step, [batch*seqLen]; a negative target is not counted. */
  public int[] targets() {
    return targets;
  }

  /** Training block length per sequence, [batch] (tandem students). */
  public int[] gammas() {
    return a.gammas;
  }

  /** The primary's logits of the last step ([rows][vocab]), or null without a primary. */
  public float[] primaryLogits() {
    return pa == null ? null : pa.logits;
  }

  /** The primary's residual streams of the last step (tandem), indexed by primary layer. */
  public float[][] primaryStates() {
    return hP;
  }

  /**
   * Forward passes and the loss; with {@code backward}, also the student's gradients (zeroed first).
   * After the call, {@link Activations#logits} holds the loss gradient (with backward) or is undefined.
   */
  public Losses run(boolean backward) {
    int rows = a.rows, vocab = student.config.vocabSize();
    if (primary != null) {
      System.arraycopy(a.tokens, 0, pa.tokens, 0, rows);
      primary.forward(gemm, pa, null, hP);
    }
    student.forward(gemm, a, hP, null);
    int counted = 0;
    for (int i = 0; i < rows; i++) if (targets[i] >= 0) counted++;
    if (counted == 0) throw new IllegalArgumentException("a batch without targets");
    CrossEntropyOp.forwardBackward(gemm.pool(), a.logits, rows, vocab, targets, softWeight == 0 ? null : pa.logits,
        hardWeight, softWeight, 1f / counted, hardLoss, softLoss);
    double hard = 0, soft = 0;
    for (int i = 0; i < rows; i++) {
      hard += hardLoss[i];
      soft += softLoss[i];
    }
    hard /= counted;
    soft /= counted;
    if (backward) {
      student.zeroGrad();
      student.backward(gemm, a, hP);
    }
    return new Losses(hardWeight * hard + softWeight * soft, hard, soft, counted);
  }

  /**
   * Forward passes only, keeping the student's logits ({@link #studentLogits}) and the primary's; for
   * evaluation and the router's labels.
   */
  public void forwardOnly() {
    if (primary != null) {
      System.arraycopy(a.tokens, 0, pa.tokens, 0, a.rows);
      primary.forward(gemm, pa, null, hP);
    }
    student.forward(gemm, a, hP, null);
  }

  /** The student's logits after {@link #forwardOnly}, [rows][vocab]. */
  public float[] studentLogits() {
    return a.logits;
  }
}
