"""Reporting on evaluated models: the review snapshot the dashboard reads and the demo summary."""
