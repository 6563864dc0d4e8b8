"""The processing layer: the durable queue, its backends and the workers that drain it.

The pipeline moves jobs and knows no business rules: handlers are wired in by the platform.
"""
