"""The Hypothesis state machine that drives a store through random operation sequences against a model."""
