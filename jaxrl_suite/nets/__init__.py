"""Flax network modules shared by learners: MLPs, Q-networks, twin critics, tanh-Gaussian actors."""
