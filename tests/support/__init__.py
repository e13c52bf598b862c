"""Helpers for the suite's own tests (test doubles, small runs of the entry points)."""
