"""Evaluation: datasets, metrics, runs and reports."""
