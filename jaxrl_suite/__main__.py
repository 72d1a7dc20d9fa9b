"""``python -m jaxrl_suite``: see jaxrl_suite/cli.py."""

from jaxrl_suite.cli import run

run()
