"""Metric series per model version: ingestion, downsampled reads, reports (trend, change points, anomalies)."""
