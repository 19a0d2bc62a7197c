"""Benchmark scripts (``python -m benchmarks.<name>``): each prints tables for BENCHMARKS.md.

worker    the worker's cost per screening beside ``Predictor.predict`` on the same image
national  triage, search and dashboard queries on millions of generated screenings
load      the whole stack (gunicorn, Celery, Redis, PostgreSQL) under fixed upload rates
"""
