"""A run folder on disk: its files, its lock and its checkpoints."""
