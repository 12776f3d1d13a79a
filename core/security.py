"""Secret key handling, proxy trust and security headers."""

from __future__ import annotations

import secrets
from pathlib import Path

from flask import Flask, request
from werkzeug.middleware.proxy_fix import ProxyFix

from config import KNOWN_DEFAULT_SECRETS

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "img-src 'self' data:",
        "style-src 'self'",
        "script-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


class InsecureConfiguration(RuntimeError):
    """The app refuses to start with settings that are unsafe in production."""


def ensure_secret_key(app: Flask) -> None:
    """Refuse a missing or well-known key in production; keep a generated one in development."""
    key = app.config.get("SECRET_KEY")
    if app.config["ENV_NAME"] == "production":
        if not key or key.strip().lower() in KNOWN_DEFAULT_SECRETS or len(key) < 24:
            raise InsecureConfiguration(
                "SECRET_KEY must be set to a long random value in production "
                '(for example: python -c "import secrets; print(secrets.token_urlsafe(48))")'
            )
        return
    if key:
        return
    path = Path(app.instance_path) / "secret_key"
    if path.exists():
        key = path.read_text().strip()
    if not key:
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        path.write_text(key)
        path.chmod(0o600)
    app.config["SECRET_KEY"] = key


def install_proxy_fix(app: Flask) -> None:
    hops = int(app.config.get("PROXY_FIX_HOPS") or 0)
    if hops > 0:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops, x_prefix=hops
        )


def install_security_headers(app: Flask) -> None:
    @app.after_request
    def _headers(response):
        headers = response.headers
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        if app.config.get("HSTS") and request.is_secure:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        if request.endpoint and not request.endpoint.endswith("static"):
            headers.setdefault("Cache-Control", "no-store")
        return response
