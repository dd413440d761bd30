"""The training loop, its per-epoch statistics, seeding and background checkpoint writes."""
