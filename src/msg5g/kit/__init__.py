"""Dependency-light helpers shared by every layer: ids, clocks, phone numbers, logging, metrics."""
