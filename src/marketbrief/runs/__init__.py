"""Runs: the runner (claim, stages, validate, persist), what each job computes, the scheduler."""
