"""The ``flask orbit`` command group; domain packages add their commands to it."""

from __future__ import annotations

from flask import Flask
from flask.cli import AppGroup

orbit_cli = AppGroup("orbit", help="Orbit administration commands.")

# Steps that `flask orbit demo` runs after the demo organisation exists, in order.
# Each takes the demo administrator and returns lines to print (domain packages
# register theirs, so org never imports the packages built on it).
DEMO_STEPS: list = []


def register_cli(app: Flask) -> None:
    import org.cli  # noqa: F401  (registers its commands on orbit_cli)
    import surveys.cli  # noqa: F401

    app.cli.add_command(orbit_cli)
