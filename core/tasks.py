"""Background jobs: a huey task queue whose embedded default is a SQLite file in the
instance folder (no extra service) and Redis in production (``TASK_QUEUE_URL``).

Services call :func:`enqueue` inside their transaction: it records a :class:`TaskRun`
(visible to admins with its attempts and last error) and hands the job to the queue
only once that transaction commits, so a worker never sees a job whose data was
rolled back. ``flask orbit worker`` runs the consumer (``make run`` starts one).
With ``TASKS_EAGER`` (the test configuration) a job runs inline, in a savepoint of
the caller's transaction, and a failure is recorded instead of raised.

Jobs are plain functions registered with :func:`job`; periodic work (automatic
closing, scheduled reminders) with :func:`every_minute`.
"""

from __future__ import annotations

import logging
import traceback
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from datetime import datetime
from pathlib import Path
from typing import Any

from flask import Flask, current_app, has_app_context
from huey import Huey, crontab
from huey.exceptions import RetryTask
from huey.storage import MemoryStorage, RedisStorage, SqliteStorage
from sqlalchemy import JSON, ForeignKey, Integer, String, Text, event
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.database import UTCDateTime, utcnow
from core.extensions import db

log = logging.getLogger(__name__)

huey = Huey("orbit", storage_class=MemoryStorage, utc=True)

_jobs: dict[str, Callable[..., Any]] = {}
_periodic: dict[str, Callable[[], Any]] = {}
_worker_app: Flask | None = None


class TaskStatus:
    QUEUED = "queued"
    RUNNING = "running"
    RETRYING = "retrying"  # failed, will run again
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # failed and out of retries


class TaskRun(db.Model):
    """One background job as admins see it: what, for which campaign, how it went."""

    __tablename__ = "task_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(36), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    args: Mapped[dict] = mapped_column(JSON, default=dict)
    campaign_id: Mapped[int | None] = mapped_column(
        ForeignKey("campaigns.id", ondelete="SET NULL"), index=True
    )
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(16), default=TaskStatus.QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=1)
    result: Mapped[dict | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def finished(self) -> bool:
        return self.status in (TaskStatus.SUCCEEDED, TaskStatus.FAILED)


class Incomplete(Exception):
    """Raise from a job after flushing what must be kept even though the job did not
    succeed (e.g. the record of a failed delivery attempt): the job's writes are
    committed, not rolled back, and the run is retried like any failure (or fails for
    good after its last attempt)."""


_current_uid: ContextVar[str | None] = ContextVar("orbit_current_job", default=None)


def current_run() -> TaskRun | None:
    """The run of the job executing now (None outside a job)."""
    uid = _current_uid.get()
    if uid is None:
        return None
    return db.session.scalar(db.select(TaskRun).where(TaskRun.uid == uid))


def job(name: str):
    """Register ``func`` as the background job ``name``. It receives the JSON-able
    keyword arguments given to :func:`enqueue` and runs in an app context; it may
    return a JSON-able result (shown to admins). It must be safe to run again."""

    def decorator(func):
        if name in _jobs and _jobs[name] is not func:
            raise ValueError(f"job {name!r} registered twice")
        _jobs[name] = func
        return func

    return decorator


def every_minute(name: str):
    """Register ``func`` to run once a minute in the worker (it must be idempotent)."""

    def decorator(func):
        _periodic[name] = func
        return func

    return decorator


def enqueue(
    name: str, *, campaign_id: int | None = None, actor=None, delay: float = 0, **kwargs
) -> TaskRun:
    """Record the job and queue it when the caller's transaction commits."""
    if name not in _jobs:
        raise KeyError(f"no background job named {name!r}")
    app = current_app
    retries = app.config["TASK_RETRIES"]
    run = TaskRun(
        uid=str(uuid.uuid4()),
        name=name,
        args=kwargs,
        campaign_id=campaign_id,
        created_by_id=getattr(actor, "id", None) if getattr(actor, "is_authenticated", False)
        else None,
        status=TaskStatus.QUEUED,
        # Eager mode (tests) runs a job once, inline: there is no retry.
        max_attempts=1 if app.config.get("TASKS_EAGER") else retries + 1,
    )
    db.session.add(run)
    db.session.flush()
    if app.config.get("TASKS_EAGER"):
        _run_inline(run)
    else:
        db.session.info.setdefault("orbit_pending_jobs", []).append((run.uid, delay))
    return run


def retry(run: TaskRun) -> TaskRun:
    """Queue a failed job again (a new run with the same arguments)."""
    return enqueue(run.name, campaign_id=run.campaign_id, **(run.args or {}))


@event.listens_for(Session, "after_commit")
def _queue_after_commit(session: Session) -> None:
    pending = session.info.pop("orbit_pending_jobs", None)
    for uid, delay in pending or ():
        try:
            if delay:
                execute_job.schedule(args=(uid,), delay=delay)
            else:
                execute_job(uid)
        except Exception:  # the queue is down: the run stays "queued"; sweep picks it up
            log.exception("could not queue job %s", uid)


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    session.info.pop("orbit_pending_jobs", None)


def _run_inline(run: TaskRun) -> None:
    """Eager mode: run now, in a savepoint; record a failure instead of raising."""
    run.status = TaskStatus.RUNNING
    run.attempts += 1
    run.started_at = utcnow()
    db.session.flush()
    token = _current_uid.set(run.uid)
    savepoint = db.session.begin_nested()
    try:
        result = _jobs[run.name](**(run.args or {}))
    except Incomplete as exc:
        savepoint.commit()
        run.status, run.error = TaskStatus.FAILED, _describe(exc)
    except Exception as exc:
        savepoint.rollback()
        run.status, run.error = TaskStatus.FAILED, _describe(exc)
    else:
        savepoint.commit()
        run.status = TaskStatus.SUCCEEDED
        run.result = result if isinstance(result, dict) else None
    finally:
        _current_uid.reset(token)
    run.finished_at = utcnow()
    db.session.flush()


def _describe(exc: BaseException) -> str:
    lines = traceback.format_exception_only(type(exc), exc)
    return "".join(lines).strip()[:4000]


def run_job(uid: str) -> bool:
    """Run the recorded job ``uid`` once (the worker's side). Commits. Returns False
    if the job failed and should be retried (up to its ``max_attempts``); raises
    nothing."""
    run = db.session.scalar(db.select(TaskRun).where(TaskRun.uid == uid))
    if run is None or run.finished:
        return True  # rolled back before it was queued, or already done
    run.status = TaskStatus.RUNNING
    run.attempts += 1
    run.started_at = utcnow()
    attempts, max_attempts = run.attempts, run.max_attempts
    name, args = run.name, dict(run.args or {})
    db.session.commit()
    token = _current_uid.set(uid)
    try:
        result = _jobs[name](**args)
        db.session.commit()
    except Exception as exc:
        if isinstance(exc, Incomplete):
            db.session.commit()  # what the job chose to keep
        else:
            db.session.rollback()
        log.warning("job %s (%s) failed: %s", name, uid, _describe(exc))
        run = db.session.scalar(db.select(TaskRun).where(TaskRun.uid == uid))
        run.error = _describe(exc)
        run.status = TaskStatus.RETRYING if attempts < max_attempts else TaskStatus.FAILED
        run.finished_at = utcnow() if run.status == TaskStatus.FAILED else None
        db.session.commit()
        return run.status == TaskStatus.FAILED
    finally:
        _current_uid.reset(token)
    run = db.session.scalar(db.select(TaskRun).where(TaskRun.uid == uid))
    run.status = TaskStatus.SUCCEEDED
    run.result = result if isinstance(result, dict) else None
    run.error = None
    run.finished_at = utcnow()
    db.session.commit()
    return True


def retry_delay(attempts: int) -> float:
    """Seconds before attempt ``attempts + 1``: exponential backoff from
    ``TASK_RETRY_DELAY_SECONDS`` (1×, 2×, 4×…), at most an hour."""
    base = current_app.config.get("TASK_RETRY_DELAY_SECONDS", 60)
    return min(base * 2 ** max(attempts - 1, 0), 3600)


@huey.task(name="orbit.execute_job")
def execute_job(uid: str) -> None:
    with _app_context():
        if run_job(uid):
            return
        attempts = db.session.scalar(db.select(TaskRun.attempts).where(TaskRun.uid == uid))
        delay = retry_delay(attempts or 1)
    raise RetryTask(f"job {uid} failed; retrying", delay=delay)


@huey.periodic_task(crontab(minute="*"), name="orbit.every_minute")
def _tick() -> None:
    with _app_context():
        for name, func in _periodic.items():
            try:
                func()
                db.session.commit()
            except Exception:
                db.session.rollback()
                log.exception("periodic job %s failed", name)


def run_periodic_now() -> None:
    """Run every periodic job once in the current app context (tests, ``flask orbit
    tick``)."""
    for func in _periodic.values():
        func()
        db.session.flush()


class _app_context:  # noqa: N801 - used as a context manager
    def __enter__(self):
        if has_app_context():
            self._ctx = None
            return
        if _worker_app is None:
            raise RuntimeError("the task worker has no app: start it with `flask orbit worker`")
        self._ctx = _worker_app.app_context()
        self._ctx.push()

    def __exit__(self, *exc):
        if self._ctx is not None:
            db.session.remove()
            self._ctx.pop()


def configure_queue(app: Flask) -> None:
    """Point the queue at ``TASK_QUEUE_URL`` (default: SQLite in the instance folder)."""
    url = app.config.get("TASK_QUEUE_URL") or (
        f"sqlite:///{Path(app.instance_path) / 'tasks.sqlite3'}"
    )
    app.config["TASK_QUEUE_URL"] = url
    if url.startswith(("redis://", "rediss://", "unix://")):
        huey.storage = RedisStorage(huey.name, url=url)
    elif url.startswith("sqlite:///"):
        huey.storage = SqliteStorage(huey.name, filename=url.removeprefix("sqlite:///"))
    elif url == "memory://":
        huey.storage = MemoryStorage(huey.name)
    else:
        raise ValueError(f"TASK_QUEUE_URL {url!r}: use sqlite:///path, redis://… or memory://")


def init_app(app: Flask) -> None:
    if not app.config.get("TASKS_EAGER"):
        configure_queue(app)


def start_worker(app: Flask, *, workers: int = 2):
    """Run the consumer in this process until interrupted (``flask orbit worker``)."""
    global _worker_app
    _worker_app = app
    configure_queue(app)
    consumer = huey.create_consumer(workers=workers, worker_type="thread", periodic=True)
    consumer.run()


def requeue_stale(older_than_seconds: int = 600) -> int:
    """Queue again runs still ``queued`` long after they were recorded (the queue was
    unreachable when their transaction committed)."""
    from datetime import timedelta

    cutoff = utcnow() - timedelta(seconds=older_than_seconds)
    stale = db.session.scalars(
        db.select(TaskRun).where(TaskRun.status == TaskStatus.QUEUED, TaskRun.created_at < cutoff)
    ).all()
    for run in stale:
        execute_job(run.uid)
    return len(stale)


every_minute("core.requeue_stale")(requeue_stale)
