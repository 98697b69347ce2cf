"""Data sources and their bulk loads: extracts, validation, resolution, the review queue."""
