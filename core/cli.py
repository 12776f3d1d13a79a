"""The ``flask orbit`` command group; domain packages add their commands to it."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

orbit_cli = AppGroup("orbit", help="Orbit administration commands.")

# Steps that `flask orbit demo` runs after the demo organisation exists, in order.
# Each takes the demo administrator and returns lines to print (domain packages
# register theirs, so org never imports the packages built on it).
DEMO_STEPS: list = []


@orbit_cli.command("worker")
@click.option("--workers", default=2, show_default=True, help="Worker threads.")
def worker(workers: int) -> None:
    """Run the background job worker (emails, reminders, automatic closing, exports)."""
    from flask import current_app

    from core.tasks import start_worker

    app = current_app._get_current_object()
    click.echo(f"Orbit worker: queue {app.config.get('TASK_QUEUE_URL') or 'default'}")
    start_worker(app, workers=workers)


@orbit_cli.command("tick")
def tick() -> None:
    """Run the periodic jobs once now (automatic closing, scheduled reminders)."""
    from core.extensions import db
    from core.tasks import run_periodic_now

    run_periodic_now()
    db.session.commit()
    click.echo("Periodic jobs done.")


def register_cli(app: Flask) -> None:
    import org.cli  # noqa: F401  (registers its commands on orbit_cli)
    import surveys.cli  # noqa: F401

    app.cli.add_command(orbit_cli)
