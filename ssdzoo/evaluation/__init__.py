"""Evaluation of trained models: mAP on records, speed benchmarks, plots."""
