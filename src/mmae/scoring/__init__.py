"""From a model's output to a decision: post-processing (maps, scores) and the threshold policy."""
