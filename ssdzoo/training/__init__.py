"""Training runs: config, the run itself, callbacks, signals, the report."""
