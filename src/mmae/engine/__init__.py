"""Everything around the pure models: config, training, checkpoints, scoring, evaluation, plots."""
