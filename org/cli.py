"""``flask orbit demo`` and ``flask orbit create-admin``."""

from __future__ import annotations

import click

from core.cli import orbit_cli


@orbit_cli.command("create-admin")
@click.option("--email", prompt=True)
@click.option("--name", prompt="Display name")
@click.password_option()
def create_admin(email: str, name: str, password: str) -> None:
    """Create an administrator (for production set-up)."""
    from core.exceptions import ServiceError
    from core.extensions import db
    from org.services import create_first_admin

    try:
        user = create_first_admin(email=email, display_name=name, password=password)
    except ServiceError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc.message)) from None
    db.session.commit()
    click.echo(f"Administrator {user.email} created.")


@orbit_cli.command("demo")
@click.option("--force", is_flag=True, help="Load the demo even in production.")
def demo(force: bool) -> None:
    """Load the bilingual demo organisation (idempotent; logins printed once)."""
    from flask import current_app

    from core.extensions import db
    from org.demo import DEMO_ADMIN, load_demo

    if current_app.config["ENV_NAME"] == "production" and not force:
        raise click.ClickException(
            "Refusing to load demo accounts with known passwords in production "
            "(use --force on a throw-away instance)."
        )

    from core.cli import DEMO_STEPS
    from org.services import find_user_by_email

    result = load_demo()
    admin = find_user_by_email(DEMO_ADMIN)
    extra = [line for step in DEMO_STEPS for line in step(admin)]
    db.session.commit()
    if result.created:
        click.echo("Demo data loaded. Log in at http://127.0.0.1:5000 with:")
        for role, email, password in result.logins:
            click.echo(f"  {role:<8} {email:<32} password: {password}")
    else:
        click.echo("Demo organisation is already there; nothing changed.")
    for line in extra:
        click.echo(line)


@orbit_cli.command("is-empty")
def is_empty() -> None:
    """Exit 0 if the database has no users yet (used by `make run`)."""
    from sqlalchemy import func, select

    from core.extensions import db
    from org.models import User

    count = db.session.scalar(select(func.count()).select_from(User))
    raise SystemExit(0 if count == 0 else 1)
