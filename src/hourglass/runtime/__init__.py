"""Runs work: scheduler, workers and the workflow kinds."""
