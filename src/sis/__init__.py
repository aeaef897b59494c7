"""SIS: make an operating-system kernel production ready, and prove it."""

__version__ = "0.1.0"
