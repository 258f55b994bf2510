"""Serving: the SavedModel with its raw-feature preprocessing."""
