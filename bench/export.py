"""Exports of 25,000 / 50,000 / 100,000 responses × 30 questions to CSV and XLSX: time and
peak memory, against a bare-minimum baseline in the same run.

Run from the repository root::

    .venv/bin/python bench/export.py                  # SQLite (about 5 minutes)
    .venv/bin/python bench/export.py --db postgres    # PostgreSQL on 127.0.0.1
    .venv/bin/python bench/export.py --check          # exit 1 if a target is missed
    .venv/bin/python bench/export.py --sizes 2000,4000,8000 --no-xlsx   # a quick look

The script

1. makes a scratch database (a SQLite file in a temporary folder; a fresh
   ``orbit_bench_<random>`` database on PostgreSQL, dropped at the end), builds the
   schema with the migrations, publishes a questionnaire of 30 questions (18 likert
   with "not applicable", 4 CSAT, 2 CES, 2 NPS, 2 single choice, 2 short texts of
   which some are Chinese and some hostile, like ``=1+1``) and opens one campaign per
   size; it fills each with completed responses (every question answered, one page
   time, a custom field) using executemany inserts;
2. runs every export in its **own process** (``bench/export.py --child …``) so that
   each one's peak memory is its own: the child builds the app, notes its resident
   set size (RSS), exports into a file, and reports the wall time of the export and
   its peak RSS (``resource.getrusage(RUSAGE_SELF).ru_maxrss``, read by the child at
   the end: the high-water mark of the whole process, Python, Flask and the app
   included — not just the export's allocations, as tracemalloc would report);
3. runs the **baseline** the same way: what an analyst would write without Orbit — one
   raw ``SELECT`` of the same completed responses joined to their answers, ordered by
   response, streamed from a DBAPI cursor (``fetchmany``), pivoted to one row per
   response and written with the ``csv`` module (or openpyxl's write-only workbook
   for XLSX). No codebook, no neutralisation, no versions or custom fields;
4. checks that Orbit's CSV holds the same values as the baseline's (every cell of every
   row, neutralised text compared as neutralised) and that the XLSX has one row per
   response with the same first and last rows; prints the table.

Timings are the best of ``--repeats`` runs (CSV; XLSX runs once by default: it is
slow and the machine is shared). rows/s is responses exported per second. The ratio
is Orbit's time over the baseline's at the same size.
Targets (issue 5): CSV of 100,000 responses in under 10 s; peak memory under 300 MB
for every export; memory flat as the campaign grows — the peak at the largest size
within 1.3× of the peak at the smallest.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import platform
import random
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from submit import LIKERT_STATEMENTS, ScratchDatabase  # noqa: E402 - the other benchmark

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
SIZES = (25_000, 50_000, 100_000)
CSV_SECONDS = 10.0  # at 100,000 responses
PEAK_MB = 300.0
FLAT = 1.3
SECRET = "bench-export-secret-key-not-for-production"  # noqa: S105 - a scratch database

# ----------------------------------------------------------------- the survey

STATEMENTS = [
    *LIKERT_STATEMENTS,
    ("trust", "I trust this team", "我信任这个团队"),
    ("again", "I would use them again", "我会再次选择"),
]
CHANNELS = [("phone", "Phone", "电话"), ("email", "Email", "邮件"),
            ("chat", "Chat", "在线聊天"), ("visit", "Visit", "上门")]
COMMENTS = ["还不错，谢谢", "Fine", "=1+1", "-", "服务很好 <ok> & \"quoted\"", "@team",
            "Slow, but OK"]


def _text(en: str, zh: str) -> dict:
    return {"en": en, "zh_CN": zh}


def survey_document() -> dict:
    questions: list[dict] = []
    scale = {"points": 5, "not_applicable": True,
             "labels": {"1": _text("Strongly disagree", "非常不同意"),
                        "5": _text("Strongly agree", "非常同意")}}
    for key, en, zh in STATEMENTS:
        questions.append({"key": key, "type": "likert", "text": _text(en, zh), "scale": scale})
    for n in range(1, 5):
        questions.append({"key": f"csat-{n}", "type": "csat",
                          "text": _text(f"Satisfied with part {n}?", f"您对第 {n} 部分满意吗？")})
    for n in range(1, 3):
        questions.append({"key": f"ces-{n}", "type": "ces",
                          "text": _text(f"Step {n} was easy", f"第 {n} 步很容易")})
    for n in range(1, 3):
        questions.append({"key": f"nps-{n}", "type": "nps",
                          "text": _text("Would you recommend us?", "您会推荐我们吗？")})
    for key in ("channel", "next-channel"):
        questions.append({"key": key, "type": "single_choice",
                          "text": _text("How did you contact us?", "您通过什么方式联系我们？"),
                          "options": [{"value": v, "label": _text(e, z)} for v, e, z in CHANNELS]})
    questions.append({"key": "ref", "type": "short_text", "max_length": 64,
                      "text": _text("Your ticket number", "您的工单号")})
    questions.append({"key": "comment", "type": "short_text", "max_length": 200,
                      "text": _text("Anything else?", "还有其他意见吗？")})
    assert len(questions) == 30
    return {
        "format": "orbit.questionnaire/1", "key": "bench-export",
        "title": _text("Service check", "服务评价"), "default_locale": "en",
        "pages": [{"key": "all", "questions": questions}],
    }


def answer_rows(response_id: int, rng: random.Random) -> list[tuple]:
    """(response_id, question_key, item_key, value_num, value_text) of one response."""
    rows = []
    for key, _en, _zh in STATEMENTS:
        if rng.random() < 0.05:
            rows.append((response_id, key, "", None, "na"))
        else:
            rows.append((response_id, key, "", float(rng.randint(1, 5)), None))
    for n in range(1, 5):
        rows.append((response_id, f"csat-{n}", "", float(rng.randint(1, 5)), None))
    for n in range(1, 3):
        rows.append((response_id, f"ces-{n}", "", float(rng.randint(1, 7)), None))
    for n in range(1, 3):
        rows.append((response_id, f"nps-{n}", "", float(rng.randint(0, 10)), None))
    for key in ("channel", "next-channel"):
        rows.append((response_id, key, "", None, rng.choice(CHANNELS)[0]))
    rows.append((response_id, "ref", "", None, f"T-{response_id:07d}"))
    rows.append((response_id, "comment", "", None, rng.choice(COMMENTS)))
    return rows


# ----------------------------------------------------------------- the database


def make_app(url: str, folder: Path):
    from core import create_app

    return create_app("production", overrides={
        "SQLALCHEMY_DATABASE_URI": url,
        "SECRET_KEY": SECRET,
        "RATELIMIT_STORAGE_URI": "memory://",
        "INSTANCE_PATH": str(folder / "instance"),
        "TASK_QUEUE_URL": "memory://",
    })


def fill(database: ScratchDatabase, folder: Path, sizes: list[int]) -> dict[int, int]:
    """Schema, questionnaire, one campaign per size filled with completed responses.
    Returns {size: campaign id}."""
    import flask_migrate
    from sqlalchemy import insert, text

    from core.extensions import db
    from org.services import create_first_admin
    from surveys import services
    from surveys.models import Answer, Response, ResponsePageTime

    app = make_app(database.sqlalchemy_url, folder)
    campaigns: dict[int, int] = {}
    with app.app_context():
        logging.disable(logging.INFO)
        try:
            flask_migrate.upgrade()
        finally:
            logging.disable(logging.NOTSET)
        admin = create_first_admin(email="bench@example.com", display_name="Bench",
                                   password=secrets.token_urlsafe(18))
        questionnaire = services.create_questionnaire(admin, survey_document())
        version = services.publish(admin, questionnaire)
        for size in sizes:
            campaign = services.create_campaign(admin, version, name=f"Bench {size}")
            campaigns[size] = campaign.id
        db.session.commit()
        version_id = version.id
        rng = random.Random(5)
        next_id = 1
        start = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
        connection = db.session.connection()
        for size, campaign_id in campaigns.items():
            t0 = time.perf_counter()
            for first in range(0, size, 5000):
                ids = range(next_id + first, next_id + min(first + 5000, size))
                responses, times, answers = [], [], []
                for rid in ids:
                    started = start + timedelta(seconds=rid * 7)
                    responses.append({
                        "id": rid, "campaign_id": campaign_id, "version_id": version_id,
                        "status": "completed", "locale": "zh_CN" if rid % 3 else "en",
                        "started_at": started, "last_saved_at": started,
                        "submitted_at": started + timedelta(seconds=95),
                        "fields": {"channel": ("qr", "email", "web")[rid % 3]},
                    })
                    times.append({"response_id": rid, "page_key": "all",
                                  "seconds": 60.0 + rid % 90, "visits": 1})
                    answers.extend(
                        {"response_id": a, "question_key": k, "item_key": i,
                         "value_num": n, "value_text": t}
                        for a, k, i, n, t in answer_rows(rid, rng)
                    )
                connection.execute(insert(Response), responses)
                connection.execute(insert(ResponsePageTime), times)
                connection.execute(insert(Answer), answers)
            next_id += size
            db.session.commit()
            connection = db.session.connection()
            print(f"  filled campaign of {size:,} responses in {time.perf_counter() - t0:.1f} s",
                  flush=True)
        if db.engine.dialect.name == "postgresql":
            db.session.commit()
            db.session.execute(text("ANALYZE"))
            db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return campaigns


# ----------------------------------------------------------------- one export (child process)


def _status_mb(name: str) -> float:
    """``VmRSS`` (resident now) or ``VmHWM`` (its high-water mark) of this process."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(name + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _rss_mb() -> float:
    return _status_mb("VmRSS")


def child(args) -> None:
    """Run one export in this process and print its figures as JSON."""
    folder = Path(args.folder)
    app = make_app(args.url, folder)
    with app.app_context():
        from core.extensions import db
        from surveys import exports
        from surveys.models import Campaign

        campaign = db.session.get(Campaign, args.campaign)
        before = _rss_mb()
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")  # restart the high-water mark (VmHWM): the export's own peak
        t0 = time.perf_counter()
        c0 = time.process_time()
        if args.child == "orbit-csv":
            rows = exports.write_export(campaign, "csv", "wide", Path(args.out),
                                        include_partial=False, include_deleted=False)
        elif args.child == "orbit-xlsx":
            rows = exports.write_xlsx(campaign, "wide", args.out)
        elif args.child == "orbit-sav":
            rows = exports.write_sav(campaign, args.out)
        else:
            rows = baseline(db, campaign.id, args.out, xlsx=args.child == "baseline-xlsx")
        seconds = time.perf_counter() - t0
        cpu = time.process_time() - c0
    peak = _status_mb("VmHWM")
    print(json.dumps({"seconds": seconds, "cpu": cpu, "rows": rows, "peak_mb": peak,
                      "start_mb": before, "process_peak_mb":
                      resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "bytes": os.path.getsize(args.out)}))


BASELINE_SQL = (
    "SELECT r.id, r.status, r.locale, r.started_at, r.submitted_at, "
    "a.question_key, a.value_num, a.value_text "
    "FROM responses r JOIN answers a ON a.response_id = r.id "
    "WHERE r.campaign_id = {campaign} AND r.status = 'completed' AND r.deleted_at IS NULL "
    "ORDER BY r.id"
)


def baseline(db, campaign_id: int, out: str, *, xlsx: bool) -> int:
    """The analyst's export: one raw SELECT, pivoted, written with csv (or openpyxl)."""
    keys = [q["key"] for q in survey_document()["pages"][0]["questions"]]
    position = {key: 5 + n for n, key in enumerate(keys)}
    header = ["response_id", "status", "locale", "started_at", "submitted_at", *keys]
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute(BASELINE_SQL.format(campaign=int(campaign_id)))
        if xlsx:
            from openpyxl import Workbook

            workbook = Workbook(write_only=True)
            sheet = workbook.create_sheet("Responses")
            write = sheet.append
        else:
            handle = open(out, "w", encoding="utf-8-sig", newline="")  # noqa: SIM115
            write = csv.writer(handle).writerow
        write(header)
        rows, current, row = 0, None, None
        while batch := cursor.fetchmany(10_000):
            for rid, status, locale, started, submitted, key, num, text in batch:
                if rid != current:
                    if row is not None:
                        write(row)
                        rows += 1
                    current = rid
                    row = [rid, status, locale, str(started), str(submitted)] + [None] * len(keys)
                value = text if num is None else (int(num) if num == int(num) else num)
                row[position[key]] = value
        if row is not None:
            write(row)
            rows += 1
        if xlsx:
            workbook.save(out)
        else:
            handle.close()
    finally:
        raw.close()
    return rows


# ----------------------------------------------------------------- the parent


@dataclass
class Run:
    kind: str  # orbit-csv, baseline-csv, orbit-xlsx, baseline-xlsx
    size: int
    seconds: float = float("inf")
    cpu: float = float("inf")
    peak_mb: float = 0.0
    start_mb: float = 0.0
    rows: int = 0
    bytes: int = 0
    times: list[float] = field(default_factory=list)


def run_child(kind: str, url: str, campaign_id: int, folder: Path, out: Path) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", kind, "--url", url,
               "--campaign", str(campaign_id), "--folder", str(folder), "--out", str(out)]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO_ROOT,
                          check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{kind} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(kind: str, size: int, repeats: int, url: str, campaign_id: int,
            folder: Path) -> tuple[Run, Path]:
    run = Run(kind, size)
    out = folder / f"{kind}-{size}.{kind.rsplit('-', 1)[1]}"
    for _ in range(repeats):
        figures = run_child(kind, url, campaign_id, folder, out)
        run.times.append(figures["seconds"])
        if figures["seconds"] < run.seconds:
            run.seconds = figures["seconds"]
        run.cpu = min(run.cpu, figures["cpu"])
        run.peak_mb = max(run.peak_mb, figures["peak_mb"])
        run.start_mb = figures["start_mb"]
        run.rows, run.bytes = figures["rows"], figures["bytes"]
    print(f"  {kind:<14} {size:>7,} responses: best {run.seconds:6.2f} s of "
          f"{', '.join(f'{t:.2f}' for t in run.times)} (CPU {run.cpu:.2f} s); "
          f"peak {run.peak_mb:.0f} MB "
          f"(app alone {run.start_mb:.0f} MB)", flush=True)
    return run, out


def _neutralised(text: str) -> str:
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def check_csv(orbit: Path, reference: Path) -> list[str]:
    """Every value of Orbit's CSV against the baseline's (same responses, same order)."""
    problems = []
    with open(orbit, encoding="utf-8-sig", newline="") as a, \
            open(reference, encoding="utf-8-sig", newline="") as b:
        mine, theirs = csv.DictReader(a), csv.DictReader(b)
        keys = [k for k in theirs.fieldnames if k not in ("started_at", "submitted_at")]
        n = 0
        for n, (row, ref) in enumerate(zip(mine, theirs, strict=True), start=1):
            for key in keys:
                expected = ref[key]
                if key in ("ref", "comment"):
                    expected = _neutralised(expected)
                if row[key] != expected:
                    problems.append(f"row {n}, {key}: {row[key]!r} != {expected!r}")
                    break
            if len(problems) > 5:
                break
        if n == 0:
            problems.append("no rows")
    return problems


def check_xlsx(path: Path, csv_path: Path, rows: int) -> list[str]:
    """One sheet row per response, first and last rows equal to the CSV's."""
    from openpyxl import load_workbook

    workbook = load_workbook(path, read_only=True)
    sheet = workbook["Responses"]
    first = last = None
    count = 0
    for values in sheet.iter_rows(min_row=2, values_only=True):
        if first is None:
            first = values
        last = values
        count += 1
    workbook.close()
    problems = [] if count == rows else [f"{count} rows in the sheet, {rows} responses"]
    with open(csv_path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        csv_first = next(reader)
        csv_last = csv_first
        for csv_last in reader:  # noqa: B007 - keep the last
            pass
    for label, cells, expected in (("first", first, csv_first), ("last", last, csv_last)):
        got = ["" if v is None else str(v) for v in cells]
        if got != expected:
            problems.append(f"{label} row differs from the CSV: {got[:8]} != {expected[:8]}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--sizes", default=",".join(str(s) for s in SIZES),
                        help="campaign sizes, smallest first (default 25000,50000,100000)")
    parser.add_argument("--repeats", type=int, default=3, help="CSV runs per case (best kept)")
    parser.add_argument("--xlsx-repeats", type=int, default=1)
    parser.add_argument("--no-xlsx", action="store_true", help="no XLSX")
    parser.add_argument("--no-sav", action="store_true", help="no SPSS file")
    parser.add_argument("--pg-url", default=PG_ADMIN_URL)
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--campaign", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args)
        return 0

    sizes = sorted(int(s) for s in args.sizes.split(","))
    import openpyxl
    import sqlalchemy

    print(f"bench/export.py: Python {platform.python_version()}, SQLAlchemy "
          f"{sqlalchemy.__version__}, openpyxl {openpyxl.__version__}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}; database {args.db}", flush=True)
    folder = Path(tempfile.mkdtemp(prefix="orbit-bench-export-"))
    database = None
    runs: list[Run] = []
    problems: list[str] = []
    try:
        database = ScratchDatabase(args.db, folder, args.pg_url)
        t0 = time.perf_counter()
        campaigns = fill(database, folder, sizes)
        print(f"  data ready in {time.perf_counter() - t0:.0f} s", flush=True)
        kinds = [("baseline-csv", args.repeats), ("orbit-csv", args.repeats)]
        if not args.no_xlsx:
            kinds += [("baseline-xlsx", args.xlsx_repeats), ("orbit-xlsx", args.xlsx_repeats)]
        if not args.no_sav:
            kinds += [("orbit-sav", 1)]
        for size in sizes:
            files = {}
            for kind, repeats in kinds:
                run, out = measure(kind, size, repeats, database.sqlalchemy_url,
                                   campaigns[size], folder)
                runs.append(run)
                files[kind] = out
                if run.rows != size:
                    problems.append(f"{kind} at {size:,}: {run.rows:,} rows")
            problems += [f"CSV at {size:,}: {p}" for p in
                         check_csv(files["orbit-csv"], files["baseline-csv"])]
            if not args.no_xlsx and size == sizes[0]:
                problems += [f"XLSX at {size:,}: {p}" for p in
                             check_xlsx(files["orbit-xlsx"], files["orbit-csv"], size)]
            for path in files.values():
                path.unlink(missing_ok=True)
    finally:
        if database is not None:
            database.drop()
        if args.keep:
            print(f"  kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)

    verdicts = print_table(runs, sizes)
    for problem in problems:
        print(f"error: {problem}")
    ok = all(verdicts) and not problems
    print(f"\ntargets: CSV of {SIZES[-1]:,} responses < {CSV_SECONDS:.0f} s; peak memory "
          f"< {PEAK_MB:.0f} MB; peak at the largest size ≤ {FLAT}× the smallest's. "
          f"{'PASS' if ok else 'FAIL'}")
    return 1 if args.check and not ok else 0


def print_table(runs: list[Run], sizes: list[int]) -> list[bool]:
    by = {(r.kind, r.size): r for r in runs}
    verdicts = []
    print()
    print("| export | responses | time s | rows/s | peak MB | growth MB | baseline s "
          "| baseline peak MB | ratio | verdict |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for fmt in ("csv", "xlsx", "sav"):
        smallest = by.get((f"orbit-{fmt}", sizes[0]))
        for size in sizes:
            run = by.get((f"orbit-{fmt}", size))
            if run is None:
                continue
            base = by.get((f"baseline-{fmt}", size))
            growth = run.peak_mb - run.start_mb
            if base is None:  # SPSS: not a target (written from memory), shown for the record
                print(f"| SAV wide | {size:,} | {run.seconds:.2f} | {size / run.seconds:,.0f} | "
                      f"{run.peak_mb:.0f} | {growth:.0f} | — | — | — | info |")
                continue
            reasons = []
            if run.peak_mb >= PEAK_MB:
                reasons.append("memory")
            if fmt == "csv" and size >= SIZES[-1] and run.seconds >= CSV_SECONDS:
                reasons.append("time")
            if size == sizes[-1] and smallest is not None and run.peak_mb > FLAT * smallest.peak_mb:
                reasons.append("not flat")
            verdicts.append(not reasons)
            verdict = "PASS" if not reasons else "FAIL (" + ", ".join(reasons) + ")"
            print(f"| {fmt.upper()} wide | {size:,} | {run.seconds:.2f} | "
                  f"{size / run.seconds:,.0f} | {run.peak_mb:.0f} | {growth:.0f} | "
                  f"{base.seconds:.2f} | {base.peak_mb:.0f} | {run.seconds / base.seconds:.2f} "
                  f"| {verdict} |")
    return verdicts


if __name__ == "__main__":
    sys.exit(main())
