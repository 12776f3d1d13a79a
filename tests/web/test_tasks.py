"""The background job queue: jobs are recorded, queued only after commit, retried with
backoff, and their failures stay visible."""

from __future__ import annotations

import pytest
from huey.exceptions import RetryTask
from huey.storage import MemoryStorage

from core import tasks
from core.extensions import db
from core.tasks import TaskRun, TaskStatus

calls: list[dict] = []


@tasks.job("tests.record")
def _record(value, fail_times=0):
    calls.append({"value": value})
    if len([c for c in calls if c["value"] == value]) <= fail_times:
        raise RuntimeError(f"failing on purpose for {value}")
    return {"stored": value}


@pytest.fixture(autouse=True)
def _fresh_calls():
    calls.clear()
    yield
    calls.clear()


@pytest.fixture
def queued(app):
    """The app as in production: jobs go to a (memory) queue instead of running inline."""
    app.config["TASKS_EAGER"] = False
    previous = tasks.huey.storage
    tasks.huey.storage = MemoryStorage("orbit-test")
    try:
        yield tasks.huey
    finally:
        app.config["TASKS_EAGER"] = True
        tasks.huey.storage = previous


def test_eager_job_runs_inline_and_is_recorded(app):
    run = tasks.enqueue("tests.record", value="a")
    assert calls == [{"value": "a"}]
    assert run.status == TaskStatus.SUCCEEDED
    assert run.result == {"stored": "a"} and run.attempts == 1 and run.finished_at


@tasks.job("tests.write_then_fail")
def _write_then_fail():
    from org.models import Team

    db.session.add(Team(name="Made by a failing job"))
    db.session.flush()
    raise ValueError("boom")


def test_eager_failure_is_recorded_not_raised_and_undone(app):
    run = tasks.enqueue("tests.write_then_fail")
    assert run.status == TaskStatus.FAILED
    assert "ValueError: boom" in run.error
    from org.models import Team

    # The job's own writes were rolled back with its savepoint.
    assert db.session.scalar(db.select(Team).where(Team.name == "Made by a failing job")) is None


def test_unknown_job_is_refused(app):
    with pytest.raises(KeyError):
        tasks.enqueue("tests.no_such_job")


def test_job_is_queued_only_when_the_transaction_commits(app, queued):
    run = tasks.enqueue("tests.record", value="later")
    assert len(queued) == 0 and run.status == TaskStatus.QUEUED
    db.session.commit()
    assert len(queued) == 1
    assert calls == []  # nothing ran in the web process


def test_rolled_back_job_is_never_queued(app, queued):
    tasks.enqueue("tests.record", value="never")
    db.session.rollback()
    db.session.commit()
    assert len(queued) == 0


def test_worker_retries_with_backoff_then_records_failure(app, queued):
    app.config["TASK_RETRIES"] = 2
    try:
        run = tasks.enqueue("tests.record", value="flaky", fail_times=5)
    finally:
        app.config["TASK_RETRIES"] = 3
    db.session.commit()
    uid = run.uid

    # The worker's side: each attempt records its outcome.
    assert tasks.run_job(uid) is False
    run = db.session.scalar(db.select(TaskRun).where(TaskRun.uid == uid))
    assert run.status == TaskStatus.RETRYING and run.attempts == 1
    assert "failing on purpose" in run.error
    assert tasks.retry_delay(1) == 60 and tasks.retry_delay(2) == 120
    assert tasks.retry_delay(20) == 3600

    assert tasks.run_job(uid) is False
    assert tasks.run_job(uid) is True  # third and last attempt: given up
    run = db.session.scalar(db.select(TaskRun).where(TaskRun.uid == uid))
    assert run.status == TaskStatus.FAILED and run.attempts == 3 and run.finished_at
    assert len(calls) == 3
    assert tasks.run_job(uid) is True and len(calls) == 3  # a finished job never reruns


def test_huey_task_asks_for_a_retry_after_a_failure(app, queued):
    run = tasks.enqueue("tests.record", value="once-flaky", fail_times=1)
    db.session.commit()
    with pytest.raises(RetryTask) as raised:
        tasks.execute_job.call_local(run.uid)
    assert raised.value.delay == 60
    tasks.execute_job.call_local(run.uid)  # succeeds now
    run = db.session.scalar(db.select(TaskRun).where(TaskRun.uid == run.uid))
    assert run.status == TaskStatus.SUCCEEDED and run.attempts == 2 and run.error is None


def test_retry_queues_a_new_run_with_the_same_arguments(app):
    failed = tasks.enqueue("tests.record", value="again", fail_times=1)
    assert failed.status == TaskStatus.FAILED
    again = tasks.retry(failed)
    assert again.id != failed.id and again.args == failed.args
    assert again.status == TaskStatus.SUCCEEDED


def test_queue_url_selects_the_storage(app, tmp_path):
    from huey.storage import SqliteStorage

    previous = tasks.huey.storage
    url = app.config.get("TASK_QUEUE_URL")
    try:
        app.config["TASK_QUEUE_URL"] = f"sqlite:///{tmp_path / 'q.sqlite3'}"
        tasks.configure_queue(app)
        assert isinstance(tasks.huey.storage, SqliteStorage)
        app.config["TASK_QUEUE_URL"] = "ftp://nowhere"
        with pytest.raises(ValueError, match="TASK_QUEUE_URL"):
            tasks.configure_queue(app)
    finally:
        tasks.huey.storage = previous
        app.config["TASK_QUEUE_URL"] = url
