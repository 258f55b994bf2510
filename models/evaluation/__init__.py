"""Evaluating a ranking model: offline metrics per head, baselines, replay on the random bucket."""
