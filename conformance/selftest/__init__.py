"""Self-validation: every gallery mutant run through the suite and the race scenarios, each expected to be caught."""
