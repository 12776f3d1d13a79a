"""Exports of a campaign's responses: CSV, XLSX and SPSS ``.sav``, wide or long.

The rules (formats, coding, neutralisation, anonymity) are explained for admins in
``docs/exports.md``; in short:

* **Wide** (:func:`iter_wide_rows`): one row per response, one column per answer part,
  described by the codebook :func:`export_columns`. **Long** (:func:`iter_long_rows`):
  one row per stored answer (:class:`~surveys.models.Answer`).
* Completed responses only, unless ``include_partial``; soft-deleted ones are left out
  unless ``include_deleted`` (then a ``deleted`` column marks them).
* Responses are read in chunks of :data:`CHUNK_SIZE`, by id, each with its answers
  gathered by the database: memory does not grow with the campaign, and CSV is streamed
  (:func:`stream_csv`). XLSX (:func:`write_xlsx`, openpyxl write-only) and SAV
  (:func:`write_sav`) are written to a file; past :data:`LARGE_EXPORT` responses the
  pages prepare them in the background (job ``surveys.export_file``).
* Text that a spreadsheet could run as a formula (starting with ``= + - @``, tab or
  carriage return) is prefixed with ``'`` in CSV and XLSX. Only text cells are touched:
  numbers are written as numbers (a number answer of -3 stays -3).
* Anonymous campaigns: no timestamps, durations or invitee details; response ids are
  replaced by keyed pseudonyms, rows are shuffled within each chunk, and a custom field
  value shared by fewer than ``min_group_size`` exported responses is left blank.

Services here flush, never commit; the job and the periodic sweep run in the worker.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import hmac
import io
import json
import os
import re
import secrets
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from flask import current_app
from flask_babel import force_locale
from flask_babel.speaklater import LazyString
from sqlalchemy import BigInteger, case, cast, func, literal, null, select, true
from sqlalchemy.dialects.postgresql import JSONB

from core.database import utcnow
from core.exceptions import NotFound, ServiceError
from core.extensions import db
from core.i18n import lazy_gettext as _l
from core.tasks import TaskRun, TaskStatus, enqueue, every_minute, job
from org import audit
from org.models import User
from org.services import require_admin
from surveys import definition as qdef
from surveys.models import (
    Answer,
    Campaign,
    Invitation,
    QuestionnaireVersion,
    Response,
    ResponsePageTime,
    ResponseStatus,
)
from surveys.services import parsed_version

__all__ = [
    "CHUNK_SIZE",
    "CODEBOOK_HEADER",
    "FORMATS",
    "KEEP_DAYS",
    "LARGE_EXPORT",
    "LAYOUTS",
    "LONG_HEADER",
    "NA_CODE",
    "Column",
    "ExportOptions",
    "PreparedExport",
    "check_download",
    "content_disposition",
    "count_responses",
    "export_columns",
    "export_filename",
    "exports_dir",
    "file_chunks",
    "iter_long_rows",
    "iter_wide_rows",
    "neutralise",
    "prepare_export",
    "prepared_exports",
    "prepared_file",
    "pseudonym",
    "response_counts",
    "spss_names",
    "stream_csv",
    "sweep_exports",
    "temporary_export",
    "write_export",
    "write_sav",
    "write_xlsx",
]

#: Responses read per query (with their answers, gathered by the database).
CHUNK_SIZE = 1000
#: Above this many responses, XLSX and SAV files are prepared in the background.
LARGE_EXPORT = 20_000
#: Prepared files are removed this many days after they were written.
KEEP_DAYS = 7
#: SPSS code of "not applicable" on rating scales (declared user-missing).
NA_CODE = -1

LAYOUTS = ("wide", "long")
FORMATS = {
    "csv": ("text/csv; charset=utf-8", "csv"),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
    "sav": ("application/x-spss-sav", "sav"),
}
JOB_NAME = "surveys.export_file"

BOM = "\ufeff".encode()
# Characters that make a spreadsheet read a cell as a formula (OWASP "CSV injection").
FORMULA_START = frozenset("=+-@\t\r")
XLSX_MAX_ROWS = 1_048_576  # header included
XLSX_MAX_COLUMNS = 16_384
XLSX_MAX_CELL = 32_767  # characters
SAV_MAX_STRING = 32_767  # bytes
SAV_MAX_LABEL = 255  # bytes of a variable label
SAV_MAX_VALUE_LABEL = 120  # bytes of a value label
SPSS_MAX_NAME = 64  # bytes
SPSS_RESERVED = frozenset(
    {"ALL", "AND", "BY", "EQ", "GE", "GT", "LE", "LT", "NE", "NOT", "OR", "TO", "WITH"}
)
_ILLEGAL_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")

LONG_HEADER = (
    "response_id",
    "question_key",
    "item_key",
    "value_num",
    "value_text",
    "question_en",
    "question_zh_CN",
)
_LONG_TEXT_COLUMNS = (4, 5, 6)  # value_text and the question texts: written by people

# Built-in end labels of the fixed scales (the respondent pages show the same ones).
_FIXED_LABELS = {
    "nps": {0: _l("Not at all likely"), 10: _l("Extremely likely")},
    "csat": {1: _l("Very dissatisfied"), 5: _l("Very satisfied")},
    "ces": {1: _l("Strongly disagree"), 7: _l("Strongly agree")},
}
_NOT_APPLICABLE = _l("Not applicable")
_SELECTED = {1: _l("Selected"), 0: _l("Not selected")}

# How an answer is written into a wide row (see ``_Plan.slots``): as it is (a point,
# "na", a number, a rank, text), or as 1 with 0 for the other options (multiple choice).
_NUM, _TEXT, _MULTI, _RANK = range(4)


# ----------------------------------------------------------------- the codebook


@dataclass(frozen=True)
class ExportOptions:
    """Which responses an export holds."""

    include_partial: bool = False  # in-progress responses too
    include_deleted: bool = False  # soft-deleted responses too, marked


@dataclass(frozen=True, eq=False)
class Column:
    """One column of the wide layout (one variable of the SPSS file).

    ``value_type`` is ``number`` (numbers; scales also hold ``"na"`` in CSV/XLSX),
    ``text``, ``code`` (a choice: the option key in CSV/XLSX, its numeric code in SPSS),
    ``flag`` (1 selected / 0 not, multiple choice), ``rank``, ``date`` (ISO text) or
    ``datetime`` (UTC). ``label`` is a bilingual text (a question's) or a lazy
    translation (response details); ``value_labels`` map SPSS codes to labels;
    ``option_codes`` map option keys to codes.
    """

    name: str
    spss_name: str
    kind: str  # "response", "field" or "question"
    value_type: str
    label: Any
    question_key: str | None = None
    question_type: str | None = None
    item: str | None = None
    item_label: Any = None
    value_labels: tuple[tuple[int, Any], ...] = ()
    option_codes: Mapping[str, int] = field(default_factory=dict)
    missing_codes: tuple[int, ...] = ()
    measure: str = "nominal"


@dataclass
class _Group:
    """A question key (of one shape) across the versions answered in the campaign."""

    key: str
    shape: str
    name: str  # column name base: the key, or "<key>_v<n>" for an older, other shape
    question: qdef.Question  # from the newest version that has it
    parts: list[tuple[str, Any]] = field(default_factory=list)  # (item/option key, label)
    not_applicable: bool = False


def _shape(question: qdef.Question) -> str:
    t = question.type
    if t in ("likert", "nps", "csat", "ces"):
        return "scale"
    if t in ("single_choice", "dropdown"):
        return "choice"
    if t in qdef.TEXT_TYPES:
        return "text"
    if t == "multiple_choice":
        return "multi"
    return t  # matrix, ranking, number, date


def _unique(names: Iterable[str]) -> list[str]:
    out, seen = [], set()
    for name in names:
        candidate, n = name, 2
        while candidate in seen:
            candidate, n = f"{name}_{n}", n + 1
        seen.add(candidate)
        out.append(candidate)
    return out


def _fit_bytes(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes, never inside a character."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[:limit].decode("utf-8", "ignore")


def spss_names(names: Iterable[str]) -> list[str]:
    """SPSS-valid variable names for ``names``, in order: letters, digits and ``_``
    only, starting with a letter, at most 64 bytes (UTF-8), not a reserved word
    (``ALL``, ``AND``, ``BY`` …), unique ignoring case (``_2``, ``_3`` … added).

    >>> spss_names(["csat-1", "CSAT_1", "1st", "with", "地区"])
    ['csat_1', 'CSAT_1_2', 'v1st', 'with_', '地区']
    """
    out, seen = [], set()
    for name in names:
        base = re.sub(r"\W", "_", unicodedata.normalize("NFC", name))
        if not base or not base[0].isalpha():
            base = "v" + base
        if base.upper() in SPSS_RESERVED:
            base += "_"
        base = _fit_bytes(base, SPSS_MAX_NAME)
        candidate, n = base, 2
        while candidate.casefold() in seen:
            suffix = f"_{n}"
            candidate, n = _fit_bytes(base, SPSS_MAX_NAME - len(suffix)) + suffix, n + 1
        seen.add(candidate.casefold())
        out.append(candidate)
    return out


def _scale_labels(question: qdef.Question) -> tuple[tuple[int, Any], ...]:
    labels = dict(_FIXED_LABELS.get(question.type, {}))
    for point in question.scale.values:
        given = question.scale.label(point)
        if given:
            labels[point] = given
    return tuple(sorted(labels.items()))


def _core(statement):
    """Run a SELECT on the session's connection, without the ORM's row processing."""
    return db.session.connection().execute(statement)


def _driver_rows(statement) -> list[tuple]:
    """Every row of a SELECT of plain columns (integers, floats, text: no conversion
    needed) as the database driver returns them. A large export reads millions of
    answer rows; skipping SQLAlchemy's row objects takes about a third off its time."""
    result = db.session.connection().execute(statement)
    try:
        return result.cursor.fetchall()
    finally:
        result.close()


def _filters(campaign: Campaign, options: ExportOptions) -> list:
    conditions = [Response.campaign_id == campaign.id]
    if not options.include_partial:
        conditions.append(Response.status == ResponseStatus.COMPLETED.value)
    if not options.include_deleted:
        conditions.append(Response.deleted_at.is_(None))
    return conditions


def _answers_object(dialect: str):
    """A correlated subquery: the answers of a response as one JSON object,
    ``{"<question key>|<item key>": value}`` — whole numbers as integers, other numbers
    as numbers, "not applicable" / choices / text / dates as strings; NULL when there
    are none. Keys never contain ``|`` (keys are ``[a-z0-9_-]``).

    SQLite writes non-whole numbers with 15 significant digits (any decimal of up to 15
    significant digits comes back exactly); PostgreSQL with the shortest exact form."""
    key = Answer.question_key + literal("|") + Answer.item_key
    whole = Answer.value_num == cast(Answer.value_num, BigInteger)
    if dialect == "postgresql":
        # json, not jsonb: built as text, twice as fast as jsonb for this.
        value = case(
            (Answer.value_num.is_(None), func.to_json(Answer.value_text)),
            (whole, func.to_json(cast(Answer.value_num, BigInteger))),
            else_=func.to_json(Answer.value_num),
        )
        aggregate = func.json_object_agg(key, value)
    else:
        value = func.coalesce(
            case((whole, cast(Answer.value_num, BigInteger)), else_=Answer.value_num),
            Answer.value_text,
        )
        aggregate = func.json_group_object(key, value)
    return (
        select(aggregate)
        .where(Answer.response_id == Response.id)
        .correlate(Response)
        .scalar_subquery()
    )


def _field_pairs(conditions: list, *, with_values: bool) -> list[tuple[str, Any, int]]:
    """``(field name, value or None, responses)`` over the responses matching
    ``conditions``, computed by the database (SQLite's ``json_each``, PostgreSQL's
    ``jsonb_each_text``): values only when ``with_values``."""
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        pairs = func.jsonb_each_text(cast(Response.fields, JSONB)).table_valued("key", "value")
        is_object = func.jsonb_typeof(cast(Response.fields, JSONB)) == "object"
    else:
        pairs = func.json_each(Response.fields).table_valued("key", "value")
        is_object = func.json_type(Response.fields) == "object"
    name = pairs.c.key
    if with_values:
        query = select(name, pairs.c.value, func.count()).group_by(name, pairs.c.value)
    else:
        query = select(name, null(), func.count()).group_by(name)
    # A response without fields holds SQL NULL or JSON null: only objects are read.
    query = query.select_from(Response).join(pairs, true()).where(*conditions, is_object)
    return [tuple(row) for row in _core(query).all()]


class _Plan:
    """Everything an export of one campaign needs before its first row: the versions
    answered, the columns, the custom fields and which of their values to hide.

    Building it takes a few queries whatever the campaign's size (versions, a count,
    the custom fields); the rows are read afterwards, chunk by chunk
    (:meth:`wide_chunks`, :meth:`long_chunks`).
    """

    def __init__(self, campaign: Campaign, options: ExportOptions):
        self.campaign = campaign
        self.options = options
        self.anonymous = bool(campaign.anonymous)
        self.with_invitee = campaign.is_personal and not self.anonymous
        self._pseudonym_key = _pseudonym_key() if self.anonymous else b""
        self._load_versions()
        self._scan_fields()
        self._build_columns()

    # -- which responses

    def filters(self) -> list:
        return _filters(self.campaign, self.options)

    def _chunks(self, *columns, joins: Iterable = ()) -> Iterator[list]:
        """Rows of ``(Response.id, *columns)`` for the exported responses, in chunks of
        :data:`CHUNK_SIZE` by ascending id (keyset pagination: no OFFSET)."""
        last = 0
        while True:
            query = select(Response.id, *columns)
            for target, on in joins:
                query = query.outerjoin(target, on)
            rows = _core(
                query.where(*self.filters(), Response.id > last)
                .order_by(Response.id)
                .limit(CHUNK_SIZE)
            ).all()
            if rows:
                yield rows
            if len(rows) < CHUNK_SIZE:
                return
            last = rows[-1][0]

    # -- versions and questions

    def _load_versions(self) -> None:
        ids = set(
            db.session.scalars(
                select(Response.version_id).where(*self.filters()).distinct()
            )
        )
        ids.add(self.campaign.version_id)
        versions = db.session.scalars(
            select(QuestionnaireVersion).where(QuestionnaireVersion.id.in_(ids))
        ).all()
        self.versions = sorted(versions, key=lambda v: v.number, reverse=True)  # newest first
        self.numbers = {v.id: v.number for v in self.versions}
        self.definitions = {v.id: parsed_version(v) for v in self.versions}
        newest = self.definitions[self.versions[0].id]
        self.locale = (
            self.campaign.default_locale or newest.default_locale or "en"
        )
        # Question texts (English, Chinese) by version, for the long layout.
        self.texts = {
            version_id: {
                q.key: (_exact(q.text, "en"), _exact(q.text, "zh_CN"))
                for q in definition.questions
            }
            for version_id, definition in self.definitions.items()
        }

    def _groups(self) -> tuple[list[_Group], dict[tuple[str, str], _Group]]:
        groups: list[_Group] = []
        by_shape: dict[tuple[str, str], _Group] = {}
        taken: set[str] = set()
        for version in self.versions:
            for question in self.definitions[version.id].questions:
                if not question.answerable:
                    continue
                shape = _shape(question)
                group = by_shape.get((question.key, shape))
                if group is None:
                    name = question.key
                    if question.key in taken:  # the key had another shape in a newer version
                        name = f"{question.key}_v{version.number}"
                    group = _Group(question.key, shape, name, question)
                    groups.append(group)
                    by_shape[(question.key, shape)] = group
                    taken.add(question.key)
                known = {key for key, _label in group.parts}
                if shape == "matrix":
                    parts = [(item.key, item.text) for item in question.items]
                elif shape in ("multi", "ranking", "choice"):
                    parts = [(option.value, option.label) for option in question.options]
                else:
                    parts = []
                group.parts.extend(p for p in parts if p[0] not in known)
                if question.scale is not None and question.scale.not_applicable:
                    group.not_applicable = True
        return groups, by_shape

    # -- custom fields

    def _scan_fields(self) -> None:
        """Names of the custom fields held by the exported responses (declared hidden
        fields first), how many responses there are, and — in anonymous campaigns — the
        values shared by at least ``min_group_size`` of them: only those are written
        (a rarer value, or one that appeared after this scan, is left blank).

        Two queries whatever the campaign's size: the database lists the fields."""
        conditions = self.filters()
        self.total = db.session.scalar(
            select(func.count()).select_from(Response).where(*conditions)
        )
        pairs = _field_pairs(conditions, with_values=self.anonymous)
        seen = dict.fromkeys(str(name) for name, _value, _n in pairs)
        declared = list(self.campaign.hidden_fields or [])
        self.field_names = [n for n in declared if n in seen] + sorted(
            n for n in seen if n not in declared
        )
        threshold = max(1, self.campaign.min_group_size or 1)
        self.common_values = {
            (str(name), str(value)) for name, value, n in pairs
            if value is not None and n >= threshold
        }

    # -- columns

    def _build_columns(self) -> None:
        meta: list[tuple[str, str, Any]] = [
            ("response_id", "text" if self.anonymous else "number", _l("Response ID")),
            ("status", "text", _l("Status")),
            ("version", "number", _l("Questionnaire version")),
            ("locale", "text", _l("Language")),
        ]
        if not self.anonymous:
            meta += [
                ("started_at", "datetime", _l("Started (UTC)")),
                ("submitted_at", "datetime", _l("Submitted (UTC)")),
                ("duration_seconds", "number", _l("Time spent (seconds)")),
            ]
        if self.with_invitee:
            meta += [
                ("invitee_email", "text", _l("Invitee email")),
                ("invitee_name", "text", _l("Invitee name")),
            ]
        if self.options.include_deleted:
            meta.append(("deleted", "flag", _l("Deleted")))
        specs: list[dict] = [
            {"name": name, "kind": "response", "value_type": vt, "label": label,
             "measure": "scale" if vt == "datetime" or name == "duration_seconds"
             else "nominal"}
            for name, vt, label in meta
        ]
        for name in self.field_names:
            specs.append({
                "name": f"field_{name}", "kind": "field", "value_type": "text",
                "label": _l("Field: %(name)s", name=name), "item": name,
            })
        groups, by_shape = self._groups()
        group_columns: dict[int, list[int]] = {}
        for group in groups:
            first = len(specs)
            specs.extend(self._question_specs(group))
            group_columns[id(group)] = list(range(first, len(specs)))
        names = _unique(spec["name"] for spec in specs)
        spss = spss_names(names)
        self.columns = [
            Column(**{**spec, "name": name, "spss_name": spss_name})
            for name, spss_name, spec in zip(names, spss, specs, strict=True)
        ]
        self.too_wide = len(self.columns) > XLSX_MAX_COLUMNS
        self.index = {c.name: i for i, c in enumerate(self.columns)}
        self.meta_count = len(meta)
        self.field_start = len(meta)
        # Where each stored answer goes, per version: "question|item" (item "" for a
        # one-column question) → (column, mode, the columns of a multiple choice).
        self.slots: dict[int, dict[str, tuple[int, int, tuple[int, ...]]]] = {}
        for version_id, definition in self.definitions.items():
            slots = {}
            for question in definition.questions:
                if not question.answerable:
                    continue
                group = by_shape[(question.key, _shape(question))]
                cols = group_columns[id(group)]
                shape = group.shape
                if shape in ("matrix", "multi", "ranking"):
                    mode = {"matrix": _NUM, "multi": _MULTI, "ranking": _RANK}[shape]
                    together = tuple(cols) if shape == "multi" else ()
                    for (part, _label), col in zip(group.parts, cols, strict=True):
                        slots[f"{question.key}|{part}"] = (col, mode, together)
                else:
                    mode = _NUM if shape in ("scale", "number") else _TEXT
                    slots[f"{question.key}|"] = (cols[0], mode, ())
            self.slots[version_id] = slots
        self.text_columns = tuple(
            i for i, c in enumerate(self.columns) if c.value_type == "text"
        )
        self.datetime_columns = tuple(
            i for i, c in enumerate(self.columns) if c.value_type == "datetime"
        )

    def _question_specs(self, group: _Group) -> list[dict]:
        q = group.question
        base = {
            "kind": "question", "label": q.text, "question_key": group.key,
            "question_type": q.type,
        }
        shape = group.shape
        if shape in ("scale", "matrix"):
            points = {
                **base, "value_type": "number", "value_labels": _scale_labels(q),
                "measure": "ordinal",
            }
            if group.not_applicable:
                points["value_labels"] += ((NA_CODE, _NOT_APPLICABLE),)
                points["missing_codes"] = (NA_CODE,)
            if shape == "scale":
                return [{**points, "name": group.name}]
            return [
                {**points, "name": f"{group.name}_{key}", "item": key, "item_label": label}
                for key, label in group.parts
            ]
        if shape == "choice":
            codes = {key: n for n, (key, _label) in enumerate(group.parts, start=1)}
            labels = tuple((n, label) for n, (_key, label) in enumerate(group.parts, start=1))
            return [{**base, "name": group.name, "value_type": "code", "option_codes": codes,
                     "value_labels": labels}]
        if shape == "multi":
            return [
                {**base, "name": f"{group.name}_{key}", "value_type": "flag", "item": key,
                 "item_label": label, "value_labels": tuple(sorted(_SELECTED.items()))}
                for key, label in group.parts
            ]
        if shape == "ranking":
            return [
                {**base, "name": f"{group.name}_{key}", "value_type": "rank", "item": key,
                 "item_label": label, "measure": "ordinal"}
                for key, label in group.parts
            ]
        if shape == "number":
            return [{**base, "name": group.name, "value_type": "number", "measure": "scale"}]
        if shape == "date":
            return [{**base, "name": group.name, "value_type": "date", "measure": "scale"}]
        return [{**base, "name": group.name, "value_type": "text"}]

    # -- rows

    def _response_id(self, response_id: int) -> int | str:
        if not self.anonymous:
            return response_id
        return _pseudonym(self._pseudonym_key, self.campaign.id, response_id)

    def wide_chunks(self) -> Iterator[list[list]]:
        """The wide rows, a list per chunk of responses.

        One query per chunk: each response comes with its answers gathered by the
        database into one JSON object (``"question|item": value``) and its time spent,
        so Python handles one row per response instead of one per answer.
        """
        dialect = db.session.get_bind().dialect.name
        seconds = (
            select(func.sum(ResponsePageTime.seconds))
            .where(ResponsePageTime.response_id == Response.id)
            .correlate(Response)
            .scalar_subquery()
        )
        columns = [
            Response.status, Response.version_id, Response.locale, Response.started_at,
            Response.submitted_at, seconds, Response.deleted_at, Response.fields,
            _answers_object(dialect),
        ]
        joins = []
        if self.with_invitee:
            columns += [Invitation.email, Invitation.name]
            joins.append((Invitation, Invitation.id == Response.invitation_id))
        width = len(self.columns)
        field_index = {
            name: self.field_start + n for n, name in enumerate(self.field_names)
        }
        anonymous, common = self.anonymous, self.common_values
        with_invitee, with_deleted = self.with_invitee, self.options.include_deleted
        numbers, slot_maps = self.numbers, self.slots
        loads = json.loads
        for chunk in self._chunks(*columns, joins=joins):
            out = []
            for record in chunk:
                (rid, status, version_id, locale, started, submitted, spent, deleted_at,
                 fields, answers) = record[:10]
                row = [None] * width
                row[0] = self._response_id(rid)
                row[1] = status
                row[2] = numbers.get(version_id)
                row[3] = locale
                at = 4
                if not anonymous:
                    row[4] = started
                    row[5] = submitted
                    if spent is not None:
                        spent = round(float(spent), 1)
                        row[6] = int(spent) if spent.is_integer() else spent
                    at = 7
                if with_invitee:
                    row[at] = record[10]
                    row[at + 1] = record[11]
                    at += 2
                if with_deleted:
                    row[at] = 0 if deleted_at is None else 1
                if fields.__class__ is dict:
                    for name, value in fields.items():
                        col = field_index.get(str(name))
                        if col is None or value is None or value == "":
                            continue  # a field first seen after the scan: next export
                        text = str(value)
                        if anonymous and (str(name), text) not in common:
                            continue
                        row[col] = text
                if answers is not None:
                    if answers.__class__ is str:
                        answers = loads(answers)
                    slots = slot_maps.get(version_id, {})
                    for key, value in answers.items():
                        slot = slots.get(key)
                        if slot is None:
                            continue
                        col, mode, together = slot
                        if mode == _MULTI:
                            for other in together:
                                if row[other] is None:
                                    row[other] = 0
                            row[col] = 1
                        else:  # a point, "na", a number, a rank, text
                            row[col] = value
                out.append(row)
            if anonymous:  # the order of ids would tell the order of starting
                out.sort(key=lambda r: r[0])
            yield out

    def long_chunks(self) -> Iterator[list[list]]:
        """The long rows (one per stored answer), a list per chunk of responses."""
        texts = self.texts
        for chunk in self._chunks(Response.version_id):
            version_of = dict(chunk)
            ids = {rid: self._response_id(rid) for rid in version_of}
            answers = _driver_rows(
                select(
                    Answer.response_id, Answer.question_key, Answer.item_key,
                    Answer.value_num, Answer.value_text,
                )
                .where(Answer.response_id.in_(list(version_of)))
                .order_by(Answer.response_id, Answer.id)
            )
            out = []
            for rid, key, item, num, text in answers:
                english, chinese = texts.get(version_of[rid], {}).get(key, ("", ""))
                if num is not None and num.is_integer():
                    num = int(num)
                out.append([ids[rid], key, item, num, text, english, chinese])
            if self.anonymous:
                out.sort(key=lambda r: r[0])  # stable: answers keep their order
            yield out


def _exact(text: Any, locale: str) -> str:
    """``text`` in exactly ``locale`` (no fallback to the other language), or ``""``; a
    one-language text (a plain string) counts for both."""
    if text is None:
        return ""
    if isinstance(text, LazyString):
        with force_locale(locale):
            return str(text)
    if isinstance(text, str):
        return text
    return text.get(locale) or ""


def _in_language(text: Any, locale: str) -> str:
    """``text`` in ``locale``, falling back to the other language."""
    if text is None:
        return ""
    if isinstance(text, LazyString):
        with force_locale(locale):
            return str(text)
    return qdef.localized(text, locale)


def pseudonym(campaign_id: int, response_id: int) -> str:
    """The id an anonymous campaign's exports give response ``response_id``: 16 hex
    digits of an HMAC keyed by the app's secret key. Stable (a wide and a long export
    join on it) but neither reversible nor ordered like the ids."""
    return _pseudonym(_pseudonym_key(), campaign_id, response_id)


def _pseudonym_key() -> bytes:
    secret = str(current_app.config["SECRET_KEY"]).encode()
    return hashlib.sha256(b"orbit.export-pseudonym:" + secret).digest()


def _pseudonym(key: bytes, campaign_id: int, response_id: int) -> str:
    message = f"{campaign_id}:{response_id}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:16]


def neutralise(value: Any) -> Any:
    """``value`` safe to open in a spreadsheet: text starting with ``=``, ``+``, ``-``,
    ``@``, a tab or a carriage return gets a leading ``'``, so it is shown as text
    instead of run as a formula. Anything that is not text (numbers) is unchanged.

    >>> neutralise("=HYPERLINK(\\"http://x\\")"), neutralise("-1+2"), neutralise(-3)
    ('\\'=HYPERLINK("http://x")', "'-1+2", -3)
    """
    if type(value) is str and value and value[0] in FORMULA_START:
        return "'" + value
    return value


def _iso(value: datetime | None) -> str | None:
    """``2024-05-01T08:30:00Z`` (UTC, whole seconds)."""
    if value is None:
        return None
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None, microsecond=0).isoformat() + "Z"


def _options(include_partial: bool, include_deleted: bool) -> ExportOptions:
    return ExportOptions(
        include_partial=bool(include_partial), include_deleted=bool(include_deleted)
    )


def _plan(campaign: Campaign, include_partial: bool, include_deleted: bool) -> _Plan:
    return _Plan(campaign, _options(include_partial, include_deleted))


# ----------------------------------------------------------------- public reading API


def export_columns(
    campaign: Campaign, *, include_partial: bool = False, include_deleted: bool = False
) -> list[Column]:
    """The codebook: the columns of the wide layout, in order."""
    return _plan(campaign, include_partial, include_deleted).columns


def iter_wide_rows(
    campaign: Campaign, *, include_partial: bool = False, include_deleted: bool = False
) -> Iterator[list]:
    """One list per response, aligned with :func:`export_columns` (same options).

    Values are typed: numbers as ``int`` / ``float``, ``"na"`` for "not applicable" on
    a scale, option keys and text as ``str``, dates as ISO text, times as aware UTC
    datetimes, ``None`` for no answer.
    """
    plan = _plan(campaign, include_partial, include_deleted)
    for rows in plan.wide_chunks():
        yield from rows


def iter_long_rows(
    campaign: Campaign, *, include_partial: bool = False, include_deleted: bool = False
) -> Iterator[list]:
    """One list per stored answer, with the columns of :data:`LONG_HEADER`."""
    plan = _plan(campaign, include_partial, include_deleted)
    for rows in plan.long_chunks():
        yield from rows


def count_responses(
    campaign: Campaign, *, include_partial: bool = False, include_deleted: bool = False
) -> int:
    """How many responses an export with these options holds."""
    conditions = _filters(campaign, _options(include_partial, include_deleted))
    return db.session.scalar(select(func.count()).select_from(Response).where(*conditions))


def response_counts(campaign: Campaign) -> dict[str, int]:
    """``completed``, ``partial`` (in progress) and ``deleted`` responses of a campaign."""
    counts = {"completed": 0, "partial": 0, "deleted": 0}
    is_deleted = Response.deleted_at.is_not(None)
    for status, deleted, n in db.session.execute(
        select(Response.status, is_deleted, func.count())
        .where(Response.campaign_id == campaign.id)
        .group_by(Response.status, is_deleted)
    ):
        if deleted:
            counts["deleted"] += n
        elif status == ResponseStatus.COMPLETED:
            counts["completed"] += n
        else:
            counts["partial"] += n
    return counts


# ----------------------------------------------------------------- CSV


def _check_layout(layout: str) -> None:
    if layout not in LAYOUTS:
        raise ServiceError(_l("Choose the wide or the long layout."), field="layout")


def _spreadsheet_row(row: list, text_columns, datetime_columns, text=neutralise) -> list:
    """``row`` ready for a spreadsheet (in place): times as ISO text, text cells passed
    through ``text`` (:func:`neutralise`, or :func:`_xlsx_text`)."""
    for i in datetime_columns:
        value = row[i]
        if value is not None:
            row[i] = _iso(value)
    for i in text_columns:
        value = row[i]
        if value:
            row[i] = text(value)
    return row


def stream_csv(
    campaign: Campaign,
    layout: str,
    *,
    include_partial: bool = False,
    include_deleted: bool = False,
) -> Iterator[bytes]:
    """The export as UTF-8 CSV (with a byte-order mark, so Excel reads Chinese),
    produced chunk by chunk. The columns are worked out before this returns; the rows
    are read as the generator is consumed."""
    _check_layout(layout)
    plan = _plan(campaign, include_partial, include_deleted)
    return _csv_chunks(plan, layout)


def _csv_chunks(plan: _Plan, layout: str, counted: list[int] | None = None) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    if layout == "wide":
        writer.writerow([c.name for c in plan.columns])
        text_columns, datetime_columns = plan.text_columns, plan.datetime_columns
        chunks = (
            [_spreadsheet_row(row, text_columns, datetime_columns) for row in rows]
            for rows in plan.wide_chunks()
        )
    else:
        writer.writerow(LONG_HEADER)
        chunks = (
            [_spreadsheet_row(row, _LONG_TEXT_COLUMNS, ()) for row in rows]
            for rows in plan.long_chunks()
        )
    yield BOM + buffer.getvalue().encode("utf-8")
    for rows in chunks:
        buffer.seek(0)
        buffer.truncate()
        writer.writerows(rows)
        if counted is not None:
            counted[0] += len(rows)
        yield buffer.getvalue().encode("utf-8")


# ----------------------------------------------------------------- XLSX


def _xlsx_text(value: str) -> str:
    value = _ILLEGAL_XML.sub("", value)
    if len(value) > XLSX_MAX_CELL:
        value = value[:XLSX_MAX_CELL]
    if value and value[0] in FORMULA_START:
        value = "'" + value
    return value



def _value_labels_text(column: Column, locale: str) -> str:
    return "; ".join(f"{code} = {_exact(label, locale)}" for code, label in column.value_labels)


CODEBOOK_HEADER = (
    "variable",
    "spss_variable",
    "question_key",
    "item_or_option",
    "question_en",
    "question_zh_CN",
    "item_en",
    "item_zh_CN",
    "type",
    "csv_values",
    "value_labels_en",
    "value_labels_zh_CN",
)


def _codebook_rows(plan: _Plan) -> Iterator[list]:
    for column in plan.columns:
        if column.value_type == "code":
            csv_values = "; ".join(
                f"{key} (SPSS {code})" for key, code in column.option_codes.items()
            )
        elif column.missing_codes:
            csv_values = f"na = {_exact(_NOT_APPLICABLE, 'en')} (SPSS {NA_CODE})"
        else:
            csv_values = ""
        yield [
            column.name,
            column.spss_name,
            column.question_key or "",
            column.item or "",
            _exact(column.label, "en"),
            _exact(column.label, "zh_CN"),
            _exact(column.item_label, "en"),
            _exact(column.item_label, "zh_CN"),
            column.question_type or column.value_type,
            csv_values,
            _value_labels_text(column, "en"),
            _value_labels_text(column, "zh_CN"),
        ]


def write_xlsx(
    campaign: Campaign,
    layout: str,
    path: str | os.PathLike,
    *,
    include_partial: bool = False,
    include_deleted: bool = False,
) -> int:
    """Write the export to ``path`` as an Excel workbook: sheet "Responses" (more
    sheets "Responses 2" … past Excel's 1,048,576 rows) and sheet "Codebook".
    Rows are written as they are read (openpyxl's write-only mode). Returns the
    number of data rows."""
    from openpyxl import Workbook

    _check_layout(layout)
    plan = _plan(campaign, include_partial, include_deleted)
    if layout == "wide" and plan.too_wide:
        raise ServiceError(_l(
            "This questionnaire has more columns than Excel allows; use the long layout "
            "or CSV."
        ))
    workbook = Workbook(write_only=True)
    if layout == "wide":
        header = [c.name for c in plan.columns]
        text_columns, datetime_columns = plan.text_columns, plan.datetime_columns
        chunks = plan.wide_chunks()
    else:
        header = list(LONG_HEADER)
        text_columns, datetime_columns = _LONG_TEXT_COLUMNS, ()
        chunks = plan.long_chunks()
    sheets = 1
    sheet = workbook.create_sheet("Responses")
    sheet.append(header)
    in_sheet, written = 1, 0
    for rows in chunks:
        for row in rows:
            if in_sheet == XLSX_MAX_ROWS:
                sheets += 1
                sheet = workbook.create_sheet(f"Responses {sheets}")
                sheet.append(header)
                in_sheet = 1
            sheet.append(_spreadsheet_row(row, text_columns, datetime_columns, _xlsx_text))
            in_sheet += 1
            written += 1
    codebook = workbook.create_sheet("Codebook")
    codebook.append(list(CODEBOOK_HEADER))
    labels_at = CODEBOOK_HEADER.index("value_labels_en")
    for row in _codebook_rows(plan):
        # The value-label cells start with a code written by us ("-1 = Not applicable"),
        # never with text from a questionnaire: only the illegal characters go.
        codebook.append([
            (_ILLEGAL_XML.sub("", v) if n >= labels_at else _xlsx_text(v))
            if isinstance(v, str) else v
            for n, v in enumerate(row)
        ])
    workbook.save(path)
    return written


# ----------------------------------------------------------------- SPSS


def _sav_string(value: str) -> str:
    return _fit_bytes(value, SAV_MAX_STRING)


def write_sav(
    campaign: Campaign,
    path: str | os.PathLike,
    *,
    include_partial: bool = False,
    include_deleted: bool = False,
) -> int:
    """Write the wide layout to ``path`` as an SPSS data file (pyreadstat), with
    variable labels (question texts in the campaign's language, else English) and
    value labels. Coding: scale points as themselves ("not applicable" = -1, declared
    missing), choices 1..n in option order, multiple-choice options 1 selected / 0
    not, ranks 1..n, dates as SPSS dates, times as SPSS date-times in UTC, text as
    UTF-8 strings. Returns the number of rows.

    pyreadstat writes from one DataFrame, so the table is held in memory (typed
    arrays, about 8 bytes per number); the pages send large campaigns to the
    background worker.
    """
    import numpy as np
    import pandas as pd
    import pyreadstat

    plan = _plan(campaign, include_partial, include_deleted)
    columns = plan.columns
    n = plan.total
    # One typed array per column, filled row by row: 8 bytes a number or a time;
    # repeated text (statuses, choices of custom fields) is stored once per column.
    data: list[Any] = []
    for column in columns:
        if column.value_type in ("text", "date"):  # no text: ""; no date: None
            data.append(np.full(n, "" if column.value_type == "text" else None, dtype=object))
        elif column.value_type == "datetime":
            data.append(np.full(n, np.datetime64("NaT"), dtype="datetime64[s]"))
        else:
            data.append(np.full(n, np.nan))
    kinds = [c.value_type for c in columns]
    codes = [c.option_codes for c in columns]
    seen_text: list[dict[str, str]] = [{} for _ in columns]
    i = 0
    for rows in plan.wide_chunks():
        for row in rows:
            if i >= n:  # responses added since the count: they wait for the next export
                break
            for j, value in enumerate(row):
                if value is None:
                    continue
                kind = kinds[j]
                if kind == "code":
                    code = codes[j].get(value)
                    if code is not None:
                        data[j][i] = code
                elif kind == "text":
                    text = _sav_string(str(value))
                    if len(text) <= 64:
                        text = seen_text[j].setdefault(text, text)
                    data[j][i] = text
                elif kind == "datetime":
                    data[j][i] = np.datetime64(value.astimezone(UTC).replace(tzinfo=None), "s")
                elif kind == "date":
                    with contextlib.suppress(ValueError):
                        data[j][i] = date.fromisoformat(value)
                elif value == qdef.NA:
                    data[j][i] = NA_CODE
                else:
                    data[j][i] = value
            i += 1
    del seen_text
    empty_dates = set()
    for j, column in enumerate(columns):
        if column.value_type == "date" and not any(v is not None for v in data[j][:i]):
            # pyreadstat would make a column of nothing but None a string variable.
            data[j] = np.full(n, np.nan)
            empty_dates.add(column.spss_name)
    frame = pd.DataFrame(
        {column.spss_name: values[:i] for column, values in zip(columns, data, strict=True)},
        copy=False,
    )
    del data
    locale = plan.locale
    labels = {}
    for column in columns:
        label = _in_language(column.label, locale)
        if column.item_label is not None:
            label = f"{label}: {_in_language(column.item_label, locale)}"
        labels[column.spss_name] = _fit_bytes(label, SAV_MAX_LABEL)
    value_labels = {
        c.spss_name: {
            code: _fit_bytes(_in_language(label, locale), SAV_MAX_VALUE_LABEL)
            for code, label in c.value_labels
        }
        for c in columns
        if c.value_labels
    }
    missing = {c.spss_name: list(c.missing_codes) for c in columns if c.missing_codes}
    measure = {
        c.spss_name: c.measure for c in columns if c.value_type not in ("text",)
    }
    formats = {}
    for c in columns:
        if c.value_type in ("code", "flag", "rank") or (
            c.value_type == "number" and c.question_type not in (None, "number")
        ):
            formats[c.spss_name] = "F8.0"  # whole numbers: codes, points, ranks
        elif c.kind == "response" and c.name in ("version", "deleted"):
            formats[c.spss_name] = "F4.0"
        elif c.kind == "response" and c.name == "response_id" and c.value_type == "number":
            formats[c.spss_name] = "F12.0"
        elif c.kind == "response" and c.name == "duration_seconds":
            formats[c.spss_name] = "F10.1"
        elif c.spss_name in empty_dates:
            formats[c.spss_name] = "DATE11"
    pyreadstat.write_sav(
        frame,
        os.fspath(path),
        file_label=_fit_bytes(campaign.name, 64),
        column_labels=labels,
        variable_value_labels=value_labels,
        missing_ranges=missing,
        variable_measure=measure,
        variable_format=formats,
    )
    return i


# ----------------------------------------------------------------- file names


def _slug(name: str) -> str:
    text = unicodedata.normalize("NFKC", name).lower()
    text = re.sub(r"[^\w]+", "-", text).strip("-_")
    return text[:80].strip("-_") or "export"


def export_filename(campaign: Campaign, ext: str, day: date) -> str:
    """``<campaign-name-slug>-<yyyymmdd>.<ext>`` (the slug keeps Chinese letters)."""
    return f"{_slug(campaign.name)}-{day:%Y%m%d}.{ext}"


def content_disposition(filename: str) -> str:
    """An ``attachment`` header value: an ASCII ``filename`` for old clients and,
    for a non-ASCII name, the exact one as ``filename*`` (RFC 5987 / RFC 6266)."""
    ascii_name = (
        unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode("ascii")
    )
    ascii_name = re.sub(r'[^A-Za-z0-9._-]+', "-", ascii_name).strip("-.") or "export"
    if "." not in ascii_name and "." in filename:
        ascii_name += "." + filename.rsplit(".", 1)[1]
    if ascii_name.startswith("-") or ascii_name.split(".")[0] in ("", "-"):
        ascii_name = "export." + filename.rsplit(".", 1)[-1]
    if filename == ascii_name:
        return f'attachment; filename="{filename}"'
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"


# ----------------------------------------------------------------- background files


_TOKEN = re.compile(r"^[A-Za-z0-9_-]{32}$")


def exports_dir() -> Path:
    """Where prepared files are kept: ``EXPORTS_DIR``, else ``<instance>/exports``.
    With several app hosts this must be a folder they share."""
    folder = current_app.config.get("EXPORTS_DIR") or Path(current_app.instance_path) / "exports"
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _check_request(fmt: str, layout: str) -> None:
    if fmt not in FORMATS:
        raise ServiceError(_l("Choose CSV, XLSX or SPSS."), field="format")
    _check_layout(layout)
    if fmt == "sav" and layout != "wide":
        raise ServiceError(
            _l("SPSS files hold the wide layout only (one row per response)."), field="layout"
        )


def check_download(
    campaign: Campaign, fmt: str, layout: str, *, include_partial: bool, include_deleted: bool
) -> int:
    """Check a direct download; returns how many responses it holds. XLSX and SPSS
    files of more than :data:`LARGE_EXPORT` responses must be prepared in the
    background (building them would hold a web worker too long)."""
    _check_request(fmt, layout)
    count = count_responses(
        campaign, include_partial=include_partial, include_deleted=include_deleted
    )
    if fmt in ("xlsx", "sav") and count > LARGE_EXPORT:
        raise ServiceError(_l(
            "This export holds more than %(n)s responses: prepare the file in the "
            "background below, or download CSV.", n=f"{LARGE_EXPORT:,}",
        ))
    return count


def write_export(
    campaign: Campaign, fmt: str, layout: str, path: Path, *,
    include_partial: bool, include_deleted: bool,
) -> int:
    """Write any export to ``path``; returns the number of rows."""
    options = {"include_partial": include_partial, "include_deleted": include_deleted}
    if fmt == "xlsx":
        return write_xlsx(campaign, layout, path, **options)
    if fmt == "sav":
        return write_sav(campaign, path, **options)
    _check_layout(layout)
    counted = [0]
    plan = _plan(campaign, include_partial, include_deleted)
    with open(path, "wb") as out:
        for part in _csv_chunks(plan, layout, counted):
            out.write(part)
    return counted[0]


def prepare_export(
    actor,
    campaign: Campaign,
    fmt: str,
    layout: str,
    *,
    include_partial: bool = False,
    include_deleted: bool = False,
    filename: str,
) -> TaskRun:
    """Queue the job that writes the file into :func:`exports_dir` under an
    unguessable name (kept :data:`KEEP_DAYS` days)."""
    require_admin(actor)
    _check_request(fmt, layout)
    run = enqueue(
        JOB_NAME,
        campaign_id=campaign.id,
        actor=actor,
        campaign=campaign.id,
        format=fmt,
        layout=layout,
        include_partial=bool(include_partial),
        include_deleted=bool(include_deleted),
        token=secrets.token_urlsafe(24),
        filename=filename,
    )
    audit.record(
        "campaign.export_prepare", campaign, actor=actor,
        details={"format": fmt, "layout": layout, "include_partial": bool(include_partial),
                 "include_deleted": bool(include_deleted)},
    )
    return run


@job(JOB_NAME)
def export_file(
    campaign: int, format: str, layout: str, include_partial: bool,
    include_deleted: bool, token: str, filename: str,
) -> dict:
    """The background job: write the file (to a ``.part`` file, renamed when done, so
    a half-written file is never offered). ``campaign`` is the campaign's id."""
    campaign = db.session.get(Campaign, campaign)
    if campaign is None:
        raise NotFound(_l("No such campaign."))
    if not _TOKEN.match(token):
        raise ValueError("bad export token")
    ext = FORMATS[format][1]
    final = exports_dir() / f"{token}.{ext}"
    partial = final.with_name(final.name + ".part")
    try:
        rows = write_export(
            campaign, format, layout, partial,
            include_partial=include_partial, include_deleted=include_deleted,
        )
        os.replace(partial, final)
    finally:
        partial.unlink(missing_ok=True)
    return {"token": token, "filename": filename, "format": format, "layout": layout,
            "rows": rows, "bytes": final.stat().st_size}


@dataclass(frozen=True)
class PreparedExport:
    run: TaskRun
    format: str
    layout: str
    filename: str
    token: str | None  # set when the file is ready
    rows: int | None
    size: int | None
    expires_at: datetime
    requested_by: str | None

    @property
    def status(self) -> str:
        return self.run.status

    @property
    def ready(self) -> bool:
        return self.token is not None


def prepared_exports(campaign: Campaign) -> list[PreparedExport]:
    """The files prepared (or being prepared) for ``campaign`` in the last
    :data:`KEEP_DAYS` days, newest first. A finished file whose file is gone (swept,
    or on another host's disk) is not offered."""
    since = utcnow() - timedelta(days=KEEP_DAYS)
    runs = db.session.scalars(
        select(TaskRun)
        .where(
            TaskRun.name == JOB_NAME,
            TaskRun.campaign_id == campaign.id,
            TaskRun.created_at >= since,
        )
        .order_by(TaskRun.created_at.desc(), TaskRun.id.desc())
        .limit(50)
    ).all()
    folder = exports_dir()
    user_ids = {run.created_by_id for run in runs if run.created_by_id}
    names = dict(
        db.session.execute(
            select(User.id, User.display_name).where(User.id.in_(user_ids))
        ).all()
    ) if user_ids else {}
    out = []
    for run in runs:
        args, result = run.args or {}, run.result or {}
        token = None
        if run.status == TaskStatus.SUCCEEDED:
            token = result.get("token")
            ext = FORMATS.get(args.get("format"), (None, None))[1]
            if not token or not ext or not (folder / f"{token}.{ext}").is_file():
                continue
        out.append(PreparedExport(
            run=run,
            format=args.get("format", ""),
            layout=args.get("layout", ""),
            filename=args.get("filename", ""),
            token=token,
            rows=result.get("rows"),
            size=result.get("bytes"),
            expires_at=(run.finished_at or run.created_at) + timedelta(days=KEEP_DAYS),
            requested_by=names.get(run.created_by_id),
        ))
    return out


def prepared_file(campaign: Campaign, token: str) -> tuple[Path, str, str]:
    """``(path, download name, mimetype)`` of a prepared file of ``campaign``;
    :class:`NotFound` for anything else (another campaign's, expired, unknown)."""
    if not _TOKEN.match(token or ""):
        raise NotFound(_l("No such file."))
    for export in prepared_exports(campaign):
        if export.token is not None and hmac.compare_digest(export.token, token):
            mimetype, ext = FORMATS[export.format]
            return exports_dir() / f"{token}.{ext}", export.filename, mimetype
    raise NotFound(_l("No such file."))


@every_minute("surveys.sweep_exports")
def sweep_exports(now: datetime | None = None) -> int:
    """Remove prepared files older than :data:`KEEP_DAYS` days (and half-written ones
    left by a crash a day ago). One directory listing: cheap to run every minute."""
    folder = current_app.config.get("EXPORTS_DIR") or Path(current_app.instance_path) / "exports"
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    now_ts = (now or utcnow()).timestamp()
    removed = 0
    with os.scandir(folder) as entries:
        for entry in entries:
            if not entry.is_file():
                continue
            age = now_ts - entry.stat().st_mtime
            limit = 86_400 if entry.name.endswith(".part") else KEEP_DAYS * 86_400
            if age > limit:
                try:
                    os.unlink(entry.path)
                    removed += 1
                except FileNotFoundError:
                    pass  # another host swept it first
    return removed


def file_chunks(path: Path, block: int = 256 * 1024) -> Iterator[bytes]:
    """Read ``path`` in blocks, deleting it once sent (or the download is cut off)."""
    try:
        with open(path, "rb") as handle:
            while data := handle.read(block):
                yield data
    finally:
        Path(path).unlink(missing_ok=True)


def temporary_export(
    campaign: Campaign, fmt: str, layout: str, *, include_partial: bool, include_deleted: bool
) -> Path:
    """Write a direct XLSX / SAV download into a temporary file of :func:`exports_dir`
    (removed by :func:`file_chunks` once sent, else by the sweep)."""
    path = exports_dir() / f"{secrets.token_urlsafe(24)}.{FORMATS[fmt][1]}.part"
    try:
        write_export(
            campaign, fmt, layout, path,
            include_partial=include_partial, include_deleted=include_deleted,
        )
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path

