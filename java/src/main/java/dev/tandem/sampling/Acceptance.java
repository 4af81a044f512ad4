package dev.tandem.sampling;

/**
 * The verifier's verdict on one sequence's block: the first {@code accepted} drafts stand, and
 * {@code next} is the primary's own token after them (a correction, or the bonus token when every
 * draft was accepted).
 */
public record Acceptance(int accepted, int next) {}
