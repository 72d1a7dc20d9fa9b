"""Sweeps: grid expansion of hyperparameters into the vmapped cell axis."""
