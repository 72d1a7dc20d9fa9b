"""jaxrl_suite: a JAX-native, accelerated offline-RL benchmark suite."""

__version__ = "0.1.0"
