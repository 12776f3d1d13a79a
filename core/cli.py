"""The ``flask orbit`` command group; domain packages add their commands to it."""

from __future__ import annotations

from flask import Flask
from flask.cli import AppGroup

orbit_cli = AppGroup("orbit", help="Orbit administration commands.")


def register_cli(app: Flask) -> None:
    import org.cli  # noqa: F401  (registers its commands on orbit_cli)

    app.cli.add_command(orbit_cli)
