"""Processes: tasks, signals and the scheduler."""
