package dev.tandem.spec;

import dev.tandem.engine.GenerationResult.FinishReason;

/** What one request produced under SPEED, with its counters. */
public record SpeedResult(int[] tokens, FinishReason finishReason, SpeedMetrics metrics) {}
