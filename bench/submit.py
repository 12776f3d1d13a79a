"""Concurrent final submits of a 30-question survey: Orbit against a bare-minimum baseline.

Run from the repository root::

    .venv/bin/python bench/submit.py                 # SQLite, then PostgreSQL
    .venv/bin/python bench/submit.py --db sqlite     # one database
    .venv/bin/python bench/submit.py --check         # exit 1 if a target is missed

For each database the script

1. makes a scratch database (a SQLite file in a temporary folder; a fresh
   ``orbit_bench_<random>`` database on the PostgreSQL server, dropped at the end),
   builds Orbit's schema with the migrations, creates an admin, a questionnaire of
   30 questions, most of them required, on **one page** (16 likert, 4 CSAT, 3 CES,
   3 NPS, 2 single choice, 2 short texts, one with a skip rule), publishes it and
   opens a public link;
2. serves Orbit (``wsgi:app``, production settings: CSRF on) and the baseline
   (``bench/baseline_app.py``: a minimal Flask app whose POST inserts one row with
   raw SQL into a table of the same database) with the same gunicorn command:
   2 workers × 4 threads (gthread) on 127.0.0.1, the repository's
   ``gunicorn.conf.py`` with ``--max-requests 0``;
3. warms both up, then for each round loads the baseline and then Orbit with
   ``--clients`` concurrent keep-alive clients (stdlib ``http.client`` threads)
   sending ``--submits`` final submits each. For Orbit every simulated respondent
   first opens the survey (``GET /s/<slug>``: session cookie, CSRF token, page
   timer — not timed), then the timed part is the final submit: one POST of the
   whole page with its 30 answers and ``action=submit``, answered by a 303 to
   ``/s/<slug>/thanks``. A share of respondents double-click (the same form POSTed
   twice at once on two connections, as a browser does before the first answer
   arrives) and a share retry after the answer (the same form again, now with the
   resume cookie); each must still be stored once. The baseline receives the same
   requests (its table has a unique respondent column and ``ON CONFLICT DO
   NOTHING``);
4. checks the database: every respondent told "thanks" has exactly one stored,
   completed response whose answers are exactly the 30 submitted (``lost``,
   ``duplicated``; a wrong answer counts as an error), and prints the table.

Figures: responses/s is stored responses per second of a round (respondents ÷
wall time from the first POST to the last answer), p50/p99 the latency of every
POST of that round; the best round of each app is shown (the machine is shared and
noisy). The ratio is the median over rounds of Orbit's responses/s over the
baseline's in the same round (the two run back to back, under the same load).
Errors, lost and duplicated count every request of the run, warm-up included.
Target (issue 4): Orbit at least 0.6 of the baseline's responses/s, zero errors,
zero lost, zero duplicated. The load generator runs on the same machine and takes
CPU from both servers (relatively more from the faster baseline).
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import os
import platform
import random
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from abc import ABC, abstractmethod
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
MIN_RATIO = 0.6
WORKERS = 2
THREADS = 4
HTTP_TIMEOUT = 60.0

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
TIMER_RE = re.compile(r'name="t" value="([^"]+)"')
PAGE_RE = re.compile(r'name="page" value="([^"]+)"')

# ----------------------------------------------------------------- the survey

LIKERT_STATEMENTS = [
    ("responsive", "The team answered quickly", "团队回复迅速"),
    ("clear", "Their answers were clear", "回答清楚"),
    ("accurate", "Their answers were accurate", "回答准确"),
    ("courteous", "They were courteous", "态度礼貌"),
    ("knowledge", "They knew the product", "熟悉产品"),
    ("ownership", "They took ownership of my problem", "主动负责"),
    ("followup", "They followed up as promised", "按承诺跟进"),
    ("first-time", "My problem was solved the first time", "一次解决问题"),
    ("effortless", "I did not have to repeat myself", "无需重复说明"),
    ("updates", "I was kept informed", "及时告知进展"),
    ("hours", "They were available when I needed them", "需要时能联系到"),
    ("tools", "The self-service tools helped", "自助工具有帮助"),
    ("billing", "The bill was correct", "账单正确"),
    ("value", "The service is good value", "物有所值"),
    ("rude", "Someone was rude to me", "有人态度粗鲁"),
    ("waited", "I waited too long", "等待时间太长"),
]
REVERSED = {"rude", "waited"}


def _text(en: str, zh: str) -> dict:
    return {"en": en, "zh_CN": zh}


def survey_document() -> dict:
    """A one-page questionnaire of 30 questions (all answered by every respondent)."""
    questions: list[dict] = []
    agree = {
        "points": 5,
        "labels": {"1": _text("Strongly disagree", "非常不同意"),
                   "5": _text("Strongly agree", "非常同意")},
        "not_applicable": True,
    }
    for n, (key, en, zh) in enumerate(LIKERT_STATEMENTS):
        questions.append({
            "key": key, "type": "likert", "text": _text(en, zh), "required": n % 4 != 3,
            "scale": agree, "dimension": ("quality", "communication", "delivery")[n % 3],
            **({"reverse": True} if key in REVERSED else {}),
        })
    for n in range(1, 5):
        questions.append({"key": f"csat-{n}", "type": "csat", "required": True,
                          "text": _text(f"How satisfied are you with part {n}?",
                                        f"您对第 {n} 部分满意吗？"),
                          "dimension": "quality"})
    for n in range(1, 4):
        questions.append({"key": f"ces-{n}", "type": "ces", "required": True,
                          "text": _text(f"Step {n} was easy", f"第 {n} 步很容易")})
    for n in range(1, 4):
        questions.append({"key": f"nps-{n}", "type": "nps", "required": n == 1,
                          "text": _text("Would you recommend us?", "您会推荐我们吗？")})
    channels = [("phone", "Phone", "电话"), ("email", "Email", "邮件"),
                ("chat", "Chat", "在线聊天"), ("visit", "Visit", "上门")]
    for key, en, zh in (("channel", "How did you contact us?", "您通过什么方式联系我们？"),
                        ("again", "How will you contact us next time?", "下次您会怎样联系？")):
        questions.append({"key": key, "type": "single_choice", "text": _text(en, zh),
                          "required": True,
                          "options": [{"value": v, "label": _text(e, z)} for v, e, z in channels]})
    questions.append({"key": "ref", "type": "short_text", "required": True, "max_length": 64,
                      "text": _text("Your ticket number", "您的工单号")})
    questions.append({"key": "comment", "type": "short_text", "max_length": 200,
                      "text": _text("Anything else?", "还有其他意见吗？"),
                      "show_if": {"question": "nps-1", "op": "answered", "value": True}})
    assert len(questions) == 30
    return {
        "format": "orbit.questionnaire/1",
        "key": "bench-submit",
        "title": _text("Service check", "服务评价"),
        "default_locale": "en",
        "dimensions": [
            {"key": k, "name": _text(k.title(), k), "kind": "kpi", "weight": 1}
            for k in ("quality", "communication", "delivery")
        ],
        "pages": [{"key": "all", "title": _text("Your experience", "您的体验"),
                   "questions": questions}],
    }


def respondent_answers(definition, ref: str, rng: random.Random) -> dict:
    """A complete, valid set of answers (one per question) for respondent ``ref``."""
    answers: dict = {}
    for question in definition.questions:
        if question.type == "short_text":
            answers[question.key] = ref if question.key == "ref" else f"还不错 <ok> & {ref}"
        elif question.type == "single_choice":
            answers[question.key] = rng.choice(question.options).value
        elif question.scale.not_applicable and rng.random() < 0.05:
            answers[question.key] = "na"
        else:
            answers[question.key] = rng.choice(list(question.scale.values))
    return answers


# ----------------------------------------------------------------- respondents


@dataclass
class Respondent:
    ref: str
    kind: str  # "once", "double" (double click) or "retry" (submit again after the answer)
    answer_fields: list[tuple[str, str]]
    expected_rows: frozenset
    orbit_body: bytes = b""
    orbit_cookie: str = ""


@dataclass
class PostResult:
    latency: float
    error: str | None = None


@dataclass
class Phase:
    seconds: float
    respondents: int
    posts: list[PostResult]

    @property
    def rate(self) -> float:
        return self.respondents / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        latencies = sorted(p.latency for p in self.posts)
        if not latencies:
            return float("nan")
        return latencies[min(len(latencies) - 1, round(q * (len(latencies) - 1)))] * 1000


@dataclass
class AppRun:
    name: str
    phases: list[Phase] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    said_thanks: set[str] = field(default_factory=set)
    respondents: dict[str, Respondent] = field(default_factory=dict)
    lost: int = 0
    duplicated: int = 0
    notes: list[str] = field(default_factory=list)

    def best(self) -> Phase:
        return max(self.phases, key=lambda p: p.rate)


class Generator:
    """Makes respondents with unique references and deterministic answers."""

    def __init__(self, definition, *, double: float, retry: float, seed: int = 4):
        self.definition = definition
        self.double, self.retry = double, retry
        self.rng = random.Random(seed)
        self.count = 0

    def make(self, n: int, prefix: str) -> list[Respondent]:
        from surveys import definition as qdef

        people = []
        for _ in range(n):
            self.count += 1
            ref = f"{prefix}-{self.count:06d}"
            answers = respondent_answers(self.definition, ref, self.rng)
            fields, rows = [], []
            for question in self.definition.questions:
                fields += qdef.answer_to_form(question, answers[question.key])
                rows += [(question.key, *row)
                         for row in qdef.answer_to_rows(question, answers[question.key])]
            draw = self.rng.random()
            kind = ("double" if draw < self.double
                    else "retry" if draw < self.double + self.retry else "once")
            people.append(Respondent(ref, kind, fields, frozenset(rows)))
        return people


# ----------------------------------------------------------------- HTTP


class Connection:
    """One keep-alive connection to the server under test."""

    def __init__(self, port: int):
        self.http = http.client.HTTPConnection("127.0.0.1", port, timeout=HTTP_TIMEOUT)

    def send(self, method: str, path: str, body: bytes | None, headers: dict) -> None:
        self.http.request(method, path, body=body, headers=headers)

    def receive(self) -> tuple[int, http.client.HTTPMessage, bytes]:
        response = self.http.getresponse()
        body = response.read()
        return response.status, response.headers, body

    def close(self) -> None:
        self.http.close()


def cookies_from(headers: http.client.HTTPMessage) -> dict[str, str]:
    jar = {}
    for header in headers.get_all("Set-Cookie") or []:
        name, _, value = header.split(";", 1)[0].partition("=")
        jar[name.strip()] = value.strip()
    return jar


FORM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded", "Accept-Language": "en"}


class Target(ABC):
    """How to prepare and submit one respondent's form on one app."""

    name = ""
    path = ""
    expected_location = ""
    has_form_page = False  # True: fetch the form (untimed) before the submit

    def prepare(self, connection: Connection, person: Respondent) -> None:  # noqa: B027
        """Anything to do before the timed submit (the survey page, for Orbit);
        nothing by default."""

    @abstractmethod
    def request(self, person: Respondent, extra_cookie: str = "") -> tuple[bytes, dict]:
        """The body and headers of the timed submit."""


class OrbitTarget(Target):
    name = "orbit"
    has_form_page = True

    def __init__(self, slug: str):
        self.path = f"/s/{slug}"
        self.expected_location = f"/s/{slug}/thanks"

    def prepare(self, connection: Connection, person: Respondent) -> None:
        connection.send("GET", self.path, None, {"Accept-Language": "en"})
        status, headers, body = connection.receive()
        html = body.decode()
        csrf, timer, page = CSRF_RE.search(html), TIMER_RE.search(html), PAGE_RE.search(html)
        if status != 200 or not (csrf and timer and page):
            raise RuntimeError(f"GET {self.path}: HTTP {status}, no survey form")
        session = cookies_from(headers).get("session")
        if not session:
            raise RuntimeError(f"GET {self.path}: no session cookie")
        fields = [("csrf_token", csrf.group(1)), ("page", page.group(1)),
                  ("t", timer.group(1)), *person.answer_fields, ("action", "submit")]
        person.orbit_body = urllib.parse.urlencode(fields).encode()
        person.orbit_cookie = f"session={session}"

    def request(self, person: Respondent, extra_cookie: str = "") -> tuple[bytes, dict]:
        cookie = person.orbit_cookie + (f"; {extra_cookie}" if extra_cookie else "")
        return person.orbit_body, {**FORM_HEADERS, "Cookie": cookie}


class BaselineTarget(Target):
    name = "baseline"
    path = "/submit"
    expected_location = "/thanks"

    def request(self, person: Respondent, extra_cookie: str = "") -> tuple[bytes, dict]:
        body = urllib.parse.urlencode([("respondent", person.ref), *person.answer_fields])
        headers = dict(FORM_HEADERS)
        if extra_cookie:
            headers["Cookie"] = extra_cookie
        return body.encode(), headers


def _check(target: Target, status: int, headers, what: str) -> str | None:
    """An error message unless the answer redirects to the thank-you page.

    303 is the answer to a submit; 302 is accepted too (a browser follows both with
    a GET), and counted apart in the report.
    """
    location = headers.get("Location", "")
    if status not in (302, 303) or not location.endswith(target.expected_location):
        return f"{what}: HTTP {status} to {location or '-'}"
    if status == 302:
        with _status_lock:
            found_302[target.name] += 1
    return None


found_302: Counter = Counter()
_status_lock = threading.Lock()


def submit(target: Target, connections: list[Connection], person: Respondent) -> list[PostResult]:
    """The final submit of ``person`` (twice for double clicks and retries)."""
    first = connections[0]
    body, headers = target.request(person)
    if person.kind == "double":
        # The second click goes out on a new connection before the first is answered.
        second = connections[1]
        start = time.perf_counter()
        first.send("POST", target.path, body, headers)
        start2 = time.perf_counter()
        second.send("POST", target.path, body, headers)
        status, response_headers, _ = first.receive()
        end = time.perf_counter()
        status2, response_headers2, _ = second.receive()
        end2 = time.perf_counter()
        second.close()  # a fresh one next time: an idle keep-alive may time out
        return [
            PostResult(end - start, _check(target, status, response_headers, person.ref)),
            PostResult(end2 - start2, _check(target, status2, response_headers2,
                                             f"{person.ref} (double click)")),
        ]
    start = time.perf_counter()
    first.send("POST", target.path, body, headers)
    status, response_headers, _ = first.receive()
    results = [PostResult(time.perf_counter() - start,
                          _check(target, status, response_headers, person.ref))]
    if person.kind == "retry":
        cookie = "; ".join(f"{k}={v}" for k, v in cookies_from(response_headers).items()
                           if k != "session")
        body, headers = target.request(person, cookie)
        start = time.perf_counter()
        first.send("POST", target.path, body, headers)
        status, response_headers, _ = first.receive()
        results.append(PostResult(time.perf_counter() - start,
                                  _check(target, status, response_headers,
                                         f"{person.ref} (retry)")))
    return results


def run_clients(port: int, people: list[Respondent], clients: int, work) -> tuple[float, list]:
    """Run ``work(connections, person)`` for every person on ``clients`` threads.

    Returns the wall time from the moment every client is ready to the last answer,
    and the list of what ``work`` returned (exceptions become error results).
    """
    queue = list(reversed(people))
    lock = threading.Lock()
    results: list = []
    started: list[float] = []
    barrier = threading.Barrier(clients, action=lambda: started.append(time.perf_counter()))

    def client() -> None:
        connections = [Connection(port), Connection(port)]
        try:
            barrier.wait()
            while True:
                with lock:
                    if not queue:
                        return
                    person = queue.pop()
                try:
                    outcome = work(connections, person)
                except (OSError, http.client.HTTPException, RuntimeError) as exc:
                    outcome = [PostResult(0.0, f"{person.ref}: {type(exc).__name__}: {exc}")]
                    for c in connections:  # the connection may be unusable now
                        c.close()
                with lock:
                    results.append((person, outcome))
        finally:
            for c in connections:
                c.close()

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - started[0], results


def load(target: Target, port: int, people: list[Respondent], clients: int,
         run: AppRun, *, timed: bool) -> None:
    """Prepare every respondent (untimed), then submit them all concurrently."""
    def prepare(connections, person):
        target.prepare(connections[0], person)
        return None

    if target.has_form_page:
        _, prepared = run_clients(port, people, clients, prepare)
        failed = {p.ref for p, outcome in prepared if outcome}
        run.errors += [o.error for _, outcome in prepared if outcome for o in outcome]
        people = [p for p in people if p.ref not in failed]
    seconds, results = run_clients(port, people, clients,
                                   lambda conns, person: submit(target, conns, person))
    posts: list[PostResult] = []
    for person, outcome in results:
        run.respondents[person.ref] = person
        posts += outcome
        errors = [o.error for o in outcome if o.error]
        run.errors += errors
        if not errors:
            run.said_thanks.add(person.ref)
    if timed:
        run.phases.append(Phase(seconds, len(people), posts))


# ----------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A gunicorn serving ``app`` with the benchmark's settings, as a subprocess."""

    def __init__(self, name: str, app: str, env: dict, folder: Path, pythonpath: Path):
        self.name, self.port = name, free_port()
        self.log = folder / f"gunicorn-{name}.log"
        command = [
            sys.executable, "-m", "gunicorn",
            "--config", str(REPO_ROOT / "gunicorn.conf.py"),
            "--workers", str(WORKERS), "--threads", str(THREADS), "--worker-class", "gthread",
            "--bind", f"127.0.0.1:{self.port}", "--max-requests", "0", "--no-control-socket",
            "--pythonpath", str(pythonpath),
            "--access-logfile", str(self.log), "--error-logfile", str(self.log),
            app,
        ]
        environment = {**os.environ, **env, "PYTHONPATH": str(REPO_ROOT)}
        self.process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=environment, start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} server exited:\n{self.log_tail()}")
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                connection.request("GET", "/healthz")
                if connection.getresponse().status == 200:
                    connection.close()
                    return
                connection.close()
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} server not ready after {timeout:.0f} s:\n"
                           f"{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


# ----------------------------------------------------------------- databases


class ScratchDatabase:
    """A throw-away database: a SQLite file, or a fresh PostgreSQL database."""

    def __init__(self, kind: str, folder: Path, pg_admin_url: str):
        self.kind, self.pg_admin_url = kind, pg_admin_url
        if kind == "sqlite":
            path = folder / "orbit.sqlite3"
            self.sqlalchemy_url = f"sqlite:///{path}"
            self.baseline_url = f"sqlite:///{path}"
            self.name = None
        else:
            import psycopg
            from psycopg import sql

            self.name = f"orbit_bench_{secrets.token_hex(4)}"
            with psycopg.connect(pg_admin_url, autocommit=True) as admin:
                admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.name)))
            parts = urllib.parse.urlsplit(pg_admin_url)
            libpq = urllib.parse.urlunsplit(parts._replace(path=f"/{self.name}"))
            self.baseline_url = libpq
            self.sqlalchemy_url = "postgresql+psycopg://" + libpq.split("://", 1)[1]

    def drop(self) -> None:
        if self.name is None:
            return
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.pg_admin_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(self.name)))


BASELINE_TABLE = {
    "sqlite": "CREATE TABLE bench_baseline (id INTEGER PRIMARY KEY, "
              "respondent VARCHAR(64) NOT NULL UNIQUE, payload TEXT NOT NULL, "
              "created_at VARCHAR(40) NOT NULL)",
    "postgresql": "CREATE TABLE bench_baseline (id BIGINT GENERATED ALWAYS AS IDENTITY "
                  "PRIMARY KEY, respondent VARCHAR(64) NOT NULL UNIQUE, payload TEXT NOT NULL, "
                  "created_at VARCHAR(40) NOT NULL)",
}


def set_up(database: ScratchDatabase, secret_key: str, folder: Path):
    """Schema, admin, published questionnaire, open link. Returns (slug, definition)."""
    import flask_migrate
    from sqlalchemy import text

    from core import create_app
    from core.extensions import db
    from org.services import create_first_admin
    from surveys import services

    app = create_app("production", overrides={
        "SQLALCHEMY_DATABASE_URI": database.sqlalchemy_url,
        "SECRET_KEY": secret_key,
        "RATELIMIT_STORAGE_URI": "memory://",
        "INSTANCE_PATH": str(folder / "instance"),
    })
    with app.app_context():
        logging.disable(logging.INFO)  # the migrations' progress lines
        try:
            flask_migrate.upgrade()
        finally:
            logging.disable(logging.NOTSET)
        admin = create_first_admin(email="bench-admin@example.com", display_name="Bench admin",
                                   password=secrets.token_urlsafe(18))
        questionnaire = services.create_questionnaire(admin, survey_document())
        version = services.publish(admin, questionnaire)
        campaign = services.create_campaign(admin, version, name="Benchmark link")
        db.session.execute(text(BASELINE_TABLE[db.engine.dialect.name]))
        db.session.commit()
        slug, definition = campaign.public_slug, services.parsed_version(version)
        campaign_id = campaign.id
        db.session.remove()
        db.engine.dispose()
    return slug, campaign_id, definition


def verify(database: ScratchDatabase, campaign_id: int, orbit: AppRun, baseline: AppRun) -> None:
    """Compare what the apps said with what the database holds."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database.sqlalchemy_url)
    try:
        with engine.connect() as connection:
            responses = connection.execute(text(
                "SELECT r.id, r.status FROM responses r WHERE r.campaign_id = :c"
            ), {"c": campaign_id}).all()
            rows_by_response = defaultdict(set)
            for response_id, key, item, num, value in connection.execute(text(
                "SELECT a.response_id, a.question_key, a.item_key, a.value_num, a.value_text "
                "FROM answers a JOIN responses r ON r.id = a.response_id "
                "WHERE r.campaign_id = :c"
            ), {"c": campaign_id}):
                rows_by_response[response_id].add((key, item, num, value))
            baseline_rows = connection.execute(text(
                "SELECT respondent, payload FROM bench_baseline")).all()
    finally:
        engine.dispose()

    # Orbit: completed responses by the respondent reference they carry.
    stored: dict[str, list[frozenset]] = defaultdict(list)
    in_progress = 0
    for response_id, status in responses:
        if status != "completed":
            in_progress += 1
            continue
        answer_rows = frozenset(rows_by_response.get(response_id, ()))
        refs = [r[3] for r in answer_rows if r[0] == "ref"]
        stored[refs[0] if refs else f"(no ref: response {response_id})"].append(answer_rows)
    _tally(orbit, stored)
    if in_progress:
        orbit.notes.append(f"{in_progress} response(s) left in progress")

    # Baseline: one row per respondent, the form as JSON.
    stored = defaultdict(list)
    for respondent, payload in baseline_rows:
        fields = json.loads(payload)
        stored[respondent].append(frozenset(
            (name, value) for name, values in fields.items() for value in values))
    for person in baseline.respondents.values():
        person.expected_rows = frozenset(person.answer_fields)
    _tally(baseline, stored)


def _tally(run: AppRun, stored: dict[str, list[frozenset]]) -> None:
    for ref, person in run.respondents.items():
        copies = stored.pop(ref, [])
        if not copies:
            if ref in run.said_thanks:
                run.lost += 1
            continue
        run.duplicated += len(copies) - 1
        if any(rows != person.expected_rows for rows in copies):
            run.errors.append(f"{ref}: stored answers differ from the submitted ones")
    for ref, copies in stored.items():
        run.errors.append(f"{len(copies)} stored response(s) for unknown respondent {ref}")


# ----------------------------------------------------------------- one database


@dataclass
class DatabaseResult:
    db: str
    orbit: AppRun
    baseline: AppRun

    @property
    def round_ratios(self) -> list[float]:
        """Orbit's responses/s over the baseline's, round by round (each round runs the
        two back to back, so both see the same load on the machine)."""
        return [o.rate / b.rate for o, b in zip(self.orbit.phases, self.baseline.phases,
                                                 strict=True)]

    @property
    def ratio(self) -> float:
        return statistics.median(self.round_ratios)

    @property
    def passed(self) -> bool:
        o = self.orbit
        return self.ratio >= MIN_RATIO and not (o.errors or o.lost or o.duplicated)


def bench_database(kind: str, args) -> DatabaseResult:
    folder = Path(tempfile.mkdtemp(prefix=f"orbit-bench-{kind}-"))
    servers: list[Server] = []
    database = None
    try:
        database = ScratchDatabase(kind, folder, args.pg_url)
        secret_key = secrets.token_urlsafe(48)
        slug, campaign_id, definition = set_up(database, secret_key, folder)
        orbit_server = Server("orbit", "wsgi:app", {
            "ORBIT_ENV": "production",
            "SECRET_KEY": secret_key,
            "SESSION_COOKIE_SECURE": "false",
            "HSTS": "false",
            "RATELIMIT_STORAGE_URI": "memory://",
            "DATABASE_URL": database.sqlalchemy_url,
            "ORBIT_INSTANCE_PATH": str(folder / "instance"),
        }, folder, REPO_ROOT)
        servers.append(orbit_server)
        baseline_server = Server("baseline", "baseline_app:app", {
            "BASELINE_DATABASE": database.baseline_url,
            "BASELINE_SQLITE_BUSY_TIMEOUT_MS": "5000",
        }, folder, REPO_ROOT / "bench")
        servers.append(baseline_server)
        for server in servers:
            server.wait_ready()

        generator = Generator(definition, double=args.double, retry=args.retry)
        orbit, baseline = AppRun("orbit"), AppRun("baseline")
        orbit_target, baseline_target = OrbitTarget(slug), BaselineTarget()
        plan = [(baseline, baseline_target, baseline_server),
                (orbit, orbit_target, orbit_server)]
        for run, target, server in plan:  # warm-up: every worker thread, caches, pools
            load(target, server.port, generator.make(args.warmup, f"w{run.name[0]}"),
                 args.clients, run, timed=False)
        for round_number in range(1, args.rounds + 1):
            for run, target, server in plan:
                people = generator.make(args.submits, f"r{round_number}{run.name[0]}")
                load(target, server.port, people, args.clients, run, timed=True)
                phase = run.phases[-1]
                ratio = (f"  ratio {phase.rate / baseline.phases[-1].rate:.2f}"
                         if run is orbit else "")
                print(f"  {kind:<10} round {round_number} {run.name:<8} "
                      f"{phase.rate:8.1f} responses/s  p50 {phase.percentile(0.5):6.1f} ms  "
                      f"p99 {phase.percentile(0.99):6.1f} ms{ratio}", flush=True)
        for server in servers:
            server.stop()
        for run in (orbit, baseline):
            if found_302[run.name]:
                run.notes.append(f"{found_302[run.name]} POST(s) answered 302, not 303, "
                                 "to the thank-you page")
        found_302.clear()
        verify(database, campaign_id, orbit, baseline)
        return DatabaseResult(kind, orbit, baseline)
    except Exception:
        for server in servers:
            print(f"--- {server.name} log (tail) ---\n{server.log_tail()}", file=sys.stderr)
        raise
    finally:
        for server in servers:
            server.stop()
        if database is not None:
            database.drop()
        if args.keep:
            print(f"  kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


# ----------------------------------------------------------------- report


def print_table(results: list[DatabaseResult]) -> None:
    header = ("| db | app | submits | responses/s | p50 ms | p99 ms | errors | lost | "
              "duplicated | ratio | verdict |")
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for result in results:
        for run in (result.baseline, result.orbit):
            best = run.best()
            is_orbit = run is result.orbit
            ratio = f"{result.ratio:.2f}" if is_orbit else "1"
            verdict = ("PASS" if result.passed else "FAIL") if is_orbit else "baseline"
            print(f"| {result.db} | {run.name} | {len(best.posts)} | {best.rate:.1f} | "
                  f"{best.percentile(0.5):.1f} | {best.percentile(0.99):.1f} | "
                  f"{len(run.errors)} | {run.lost} | {run.duplicated} | {ratio} | {verdict} |")
    for result in results:
        for run in (result.baseline, result.orbit):
            for note in run.notes:
                print(f"note: {result.db} {run.name}: {note}")
            for message, count in Counter(run.errors).most_common(5):
                print(f"error: {result.db} {run.name}: {message}" +
                      (f" (×{count})" if count > 1 else ""))
            if len(run.errors) > 5:
                print(f"error: {result.db} {run.name}: … {len(run.errors)} errors in all")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Concurrent final submits of a 30-question survey on gunicorn "
                    f"({WORKERS} workers × {THREADS} threads): Orbit against a minimal Flask "
                    "app inserting one row with raw SQL into the same database.")
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--clients", type=int, default=16,
                        help="concurrent clients (default 16)")
    parser.add_argument("--submits", type=int, default=400,
                        help="respondents per app and round (default 400)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="timed rounds, each the baseline then Orbit; the table shows "
                             "each app's best round and the median round ratio (default 3)")
    parser.add_argument("--warmup", type=int, default=48,
                        help="untimed respondents per app first (default 48)")
    parser.add_argument("--double", type=float, default=0.10,
                        help="share of respondents who double-click submit (default 0.10)")
    parser.add_argument("--retry", type=float, default=0.05,
                        help="share who submit again after the answer (default 0.05)")
    parser.add_argument("--pg-url", default=PG_ADMIN_URL,
                        help=f"PostgreSQL server to make the scratch database on "
                             f"(default {PG_ADMIN_URL})")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temporary folder (SQLite file, gunicorn logs)")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 unless every database meets the target")
    args = parser.parse_args(argv)
    if args.clients < 1 or args.submits < 1 or args.rounds < 1 or args.warmup < 0:
        parser.error("--clients, --submits and --rounds must be positive")

    # Stop cleanly on SIGTERM too: servers stopped, scratch database dropped.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    kinds = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    print(f"bench/submit.py: Python {platform.python_version()}, {os.cpu_count()} CPUs, "
          f"{args.clients} clients, {args.submits} respondents × {args.rounds} rounds per app, "
          f"{args.double:.0%} double clicks, {args.retry:.0%} retries", flush=True)
    started = time.perf_counter()
    results = [bench_database(kind, args) for kind in kinds]
    print()
    print_table(results)
    print(f"\ntarget: Orbit ≥ {MIN_RATIO} × baseline responses/s, no errors, none lost or "
          f"duplicated; {time.perf_counter() - started:.0f} s in all")
    if args.check and not all(r.passed for r in results):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
