"""Application factory."""

from __future__ import annotations

import logging
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask

from config import load_config

ROOT = Path(__file__).resolve().parent.parent


def create_app(config_name: str | None = None, overrides: dict[str, Any] | None = None) -> Flask:
    """Build an Orbit app.

    ``config_name`` is ``development``, ``testing`` or ``production`` (default:
    ``$ORBIT_ENV``, else ``production``); ``overrides`` win over everything.
    The instance folder (SQLite database, generated secret key) is
    ``overrides["INSTANCE_PATH"]``, else ``$ORBIT_INSTANCE_PATH``, else ``instance/``.
    """
    instance_path = (overrides or {}).get("INSTANCE_PATH") or os.environ.get("ORBIT_INSTANCE_PATH")
    app = Flask(
        __name__,
        instance_path=str(Path(instance_path).resolve()) if instance_path else None,
        instance_relative_config=True,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    app.config.from_mapping(load_config(config_name))
    if overrides:
        app.config.from_mapping(overrides)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        app.config["SQLALCHEMY_DATABASE_URI"] = (
            f"sqlite:///{Path(app.instance_path) / 'orbit.sqlite3'}"
        )
    app.config["REMEMBER_COOKIE_DURATION"] = timedelta(
        days=app.config["REMEMBER_COOKIE_DURATION_DAYS"]
    )
    app.config.setdefault("OPENAPI_URL_PREFIX", "/api/v1")
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")

    from core.i18n import LazyTextJSONProvider
    from core.security import ensure_secret_key, install_proxy_fix, install_security_headers

    app.json = LazyTextJSONProvider(app)

    ensure_secret_key(app)
    install_proxy_fix(app)
    _init_extensions(app)
    install_security_headers(app)
    _register_blueprints(app)

    from core.errors import register_error_handlers

    register_error_handlers(app)

    from core.templating import register_template_helpers

    register_template_helpers(app)

    from core.cli import register_cli

    register_cli(app)
    if not app.debug and not app.testing:
        logging.basicConfig(level=logging.INFO)
    return app


def _init_extensions(app: Flask) -> None:
    from core.database import install_sqlite_settings
    from core.extensions import babel, csrf, db, limiter, login_manager, migrate
    from core.i18n import CatalogueDomain, select_locale

    db.init_app(app)
    with app.app_context():
        for engine in db.engines.values():
            install_sqlite_settings(
                engine,
                busy_timeout_ms=app.config["SQLITE_BUSY_TIMEOUT_MS"],
                strict=app.config.get("SQLITE_STRICT_TRANSACTIONS", False),
            )
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    csrf.init_app(app)
    babel.init_app(
        app,
        locale_selector=select_locale,
        default_translation_directories=str(ROOT / "translations"),
    )
    babel.__dict__["domain_instance"] = CatalogueDomain([str(ROOT / "translations")])
    # Flask-Limiter keeps one "enabled" flag for every app that shares the module-level
    # limiter; keep it on and decide per app (see core.extensions.limits_off_for_app).
    configured = bool(app.config.get("RATELIMIT_ENABLED", True))
    app.config["ORBIT_RATE_LIMITS"] = configured
    app.config["RATELIMIT_ENABLED"] = True
    limiter.init_app(app)
    app.config["RATELIMIT_ENABLED"] = configured
    login_manager.init_app(app)
    from core import tasks

    tasks.init_app(app)


def _register_blueprints(app: Flask) -> None:
    from core.extensions import api
    from core.health import bp as health_bp
    from core.i18n import bp as i18n_bp
    from evaluations.api import register_sla_api
    from evaluations.routes import bp as evaluations_bp
    from org.api import register_api
    from org.apikey_routes import bp as apikeys_bp
    from org.orgchart_routes import bp as orgchart_bp
    from org.routes import bp as org_bp
    from surveys.api import register_survey_api
    from surveys.builder_routes import bp as builder_bp
    from surveys.campaign_api import register_campaign_api
    from surveys.campaign_routes import bp as campaigns_bp
    from surveys.export_routes import bp as exports_bp
    from surveys.invitation_routes import bp as invitations_bp
    from surveys.respond import bp as respond_bp
    from surveys.responses_routes import bp as responses_admin_bp
    from surveys.results_routes import bp as results_bp
    from surveys.routes import bp as surveys_bp

    app.register_blueprint(health_bp)
    app.register_blueprint(i18n_bp)
    app.register_blueprint(org_bp)
    app.register_blueprint(orgchart_bp)
    app.register_blueprint(apikeys_bp)
    app.register_blueprint(surveys_bp)
    app.register_blueprint(builder_bp)
    app.register_blueprint(campaigns_bp)
    app.register_blueprint(exports_bp)
    app.register_blueprint(respond_bp)
    app.register_blueprint(invitations_bp)
    app.register_blueprint(responses_admin_bp)
    app.register_blueprint(results_bp)
    app.register_blueprint(evaluations_bp)
    register_api(app)
    register_survey_api(api)
    register_campaign_api(api)
    register_sla_api(api)
