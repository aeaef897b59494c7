"""Kernel logs: parsing captures, normalizing records into event signatures, and checking a
run's log against a committed baseline."""
