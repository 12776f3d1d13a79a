"""The baseline of ``bench/submit.py``: the least a web app can do to store a submission.

A minimal Flask app, served by gunicorn exactly like Orbit, whose ``POST /submit``
reads the form and inserts **one row with raw SQL** into ``bench_baseline`` in the
same database as Orbit's — no ORM, no session, no CSRF, no validation, no
templates. The respondent's reference is unique and the insert is
``ON CONFLICT DO NOTHING``, so a double submit stores one row here too (the
cheapest possible idempotency). ``bench/submit.py`` creates the table.

Settings come from the environment:

``BASELINE_DATABASE``
    ``sqlite:///<path>`` or a libpq URL (``postgresql://…``).
``BASELINE_SQLITE_BUSY_TIMEOUT_MS``
    the busy timeout, as Orbit's ``SQLITE_BUSY_TIMEOUT_MS`` (default 5000).

SQLite connections get Orbit's pragmas (``core.database.install_sqlite_settings``):
WAL journal, ``synchronous=NORMAL``, foreign keys and the busy timeout. One
connection per server thread, opened on first use and kept.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from datetime import UTC, datetime

from flask import Flask, jsonify, request

DATABASE = os.environ.get("BASELINE_DATABASE", "")
BUSY_TIMEOUT_MS = int(os.environ.get("BASELINE_SQLITE_BUSY_TIMEOUT_MS", "5000"))
IS_SQLITE = DATABASE.startswith("sqlite:///")

INSERT_SQLITE = (
    "INSERT INTO bench_baseline (respondent, payload, created_at) VALUES (?, ?, ?) "
    "ON CONFLICT (respondent) DO NOTHING"
)
INSERT_PG = (
    "INSERT INTO bench_baseline (respondent, payload, created_at) VALUES (%s, %s, %s) "
    "ON CONFLICT (respondent) DO NOTHING"
)

app = Flask(__name__)
_local = threading.local()


def _connect():
    if IS_SQLITE:
        connection = sqlite3.connect(
            DATABASE[len("sqlite:///"):],
            timeout=BUSY_TIMEOUT_MS / 1000,
            isolation_level=None,  # autocommit: the INSERT is its own transaction
            check_same_thread=False,
        )
        connection.execute("PRAGMA foreign_keys=ON")
        connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        return connection
    import psycopg

    return psycopg.connect(DATABASE, autocommit=True)


def _connection():
    connection = getattr(_local, "connection", None)
    if connection is None:
        connection = _local.connection = _connect()
    return connection


@app.get("/healthz")
def healthz():
    _connection().execute("SELECT 1")
    return jsonify(status="ok")


@app.post("/submit")
def submit():
    form = request.form
    respondent = form.get("respondent", "")
    if not respondent:
        return "respondent missing", 400
    payload = json.dumps(
        {key: form.getlist(key) for key in form if key != "respondent"}, ensure_ascii=False
    )
    _connection().execute(
        INSERT_SQLITE if IS_SQLITE else INSERT_PG,
        (respondent, payload, datetime.now(UTC).isoformat()),
    )
    return "", 303, {"Location": "/thanks"}
