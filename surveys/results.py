"""Per-question results of a campaign: counts, distributions, means with confidence
intervals, NPS / CSAT / CES, number and date summaries, rankings and the words of
free-text answers — optionally for the responses matching a filter.

Only completed responses that are not (soft-)deleted count. The questions are those of
the campaign's version; responses given on other versions of the questionnaire count
towards the question with the same key when it asks the same thing in the same way
(same type, same scale, for a ranking the same options); a question that only older
versions have is listed after the others.

Everything but free text is computed from SQL aggregates — one ``GROUP BY`` over the
answers (question, item, value) — never by loading responses one by one; the
statistics then work on the (value, count) pairs. The words of free-text answers come
from the newest :data:`WORD_SAMPLE` answers of a question and are cached per process.

Anonymity: a filter is refused (:class:`FilterRefused`) when the responses it keeps —
or the ones it leaves out, which a reader could get by subtraction — number between 1
and ``campaign.min_group_size - 1``. The methods are described in ``docs/results.md``.
"""

from __future__ import annotations

import math
import re
import threading
import time as time_module
from collections import OrderedDict, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
from scipy import stats
from sqlalchemy import String, and_, cast, func, or_, select

import scoring
from core.exceptions import ServiceError
from core.extensions import db
from core.i18n import lazy_gettext as _l
from core.i18n import lazy_ngettext
from surveys import definition as qdef
from surveys import services, textwords
from surveys.models import (
    Answer,
    Campaign,
    Invitation,
    QuestionnaireVersion,
    Response,
    ResponseStatus,
)

__all__ = [
    "FEW_RESPONSES",
    "CampaignSummary",
    "FilterRefused",
    "QuestionSummary",
    "ResultFilters",
    "TextAnswers",
    "filter_choices",
    "filterable_fields",
    "response_field",
    "summarize",
    "text_answers",
    "viewer_zone",
]

#: Below this many answers a figure carries the "few responses" marker (so does any
#: figure below the campaign's minimum group size): a 95 % interval from fewer than
#: 30 answers is wide, and the t approximation rests on fewer assumptions above it.
FEW_RESPONSES = 30
CONFIDENCE = 0.95
TEXT_SHOWN = 10  # answers listed on the summary; the rest one click away
TEXT_PAGE_SIZE = 50
WORD_SAMPLE = 10_000  # newest answers whose words are counted
TOP_WORDS = 30
MAX_FIELD_VALUE = 200
SUMMARY_TTL = 300  # seconds a summary is reused while its responses stay the same
SUMMARIES_CACHED = 64
_FIELD_NAME = re.compile(r'^[^"\\\x00-\x1f\x7f]{1,64}$')


class FilterRefused(ServiceError):
    """A filter that would single out fewer than ``min_group_size`` respondents (or
    leave them out, which is the same by subtraction). No numbers are shown."""

    status_code = 422


def viewer_zone() -> ZoneInfo:
    """The time zone dates are shown and typed in: the request's (Flask-Babel),
    else the configured default, else UTC."""
    from flask import current_app, has_app_context, has_request_context

    name = None
    if has_request_context():
        from flask_babel import get_timezone

        name = str(get_timezone() or "")
    elif has_app_context():
        name = current_app.config.get("BABEL_DEFAULT_TIMEZONE")
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_day_start(day: date, zone: ZoneInfo) -> datetime:
    """Midnight starting ``day`` in ``zone``, as an aware UTC datetime."""
    return datetime.combine(day, time.min, tzinfo=zone).astimezone(UTC)


# --------------------------------------------------------------------- filters


@dataclass(frozen=True)
class ResultFilters:
    """Which completed responses to summarise: those whose ``fields`` (hidden fields
    of a public link, custom fields of an invitation) have all the given values, and
    that were submitted from the start of ``date_from`` to the end of ``date_to``
    (both optional, inclusive, days in ``tz`` — an IANA name; default: the viewer's).
    """

    field_filters: Mapping[str, str] = field(default_factory=dict)
    date_from: date | None = None
    date_to: date | None = None
    tz: str | None = None

    @property
    def active(self) -> bool:
        return bool(self.field_filters or self.date_from or self.date_to)

    def zone(self) -> ZoneInfo:
        if self.tz:
            try:
                return ZoneInfo(self.tz)
            except (ZoneInfoNotFoundError, ValueError):
                raise ServiceError(_l("Unknown time zone “%(tz)s”.", tz=self.tz),
                                   field="tz") from None
        return viewer_zone()

    def to_dict(self) -> dict:
        return {
            "fields": dict(self.field_filters),
            "date_from": self.date_from.isoformat() if self.date_from else None,
            "date_to": self.date_to.isoformat() if self.date_to else None,
            "tz": self.zone().key,
        }

    @classmethod
    def from_query(cls, args: Mapping[str, str], *, tz: str | None = None) -> ResultFilters:
        """Filters from a query string: ``f.<field>=<value>`` (one per field; empty
        values ignored), ``from`` and ``to`` as ``YYYY-MM-DD``, and ``tz`` (optional).

        Raises :class:`ServiceError` for a date that cannot be read or a range that
        ends before it starts.
        """
        fields = {}
        for name, value in args.items():
            if name.startswith("f.") and (value or "").strip():
                fields[name[2:]] = value.strip()

        def day(name: str) -> date | None:
            text = (args.get(name) or "").strip()
            if not text:
                return None
            try:
                return date.fromisoformat(text)
            except ValueError:
                raise ServiceError(_l("Enter a date as YYYY-MM-DD."), field=name) from None

        start, end = day("from"), day("to")
        if start and end and end < start:
            raise ServiceError(_l("The end date is before the start date."), field="to")
        return cls(fields, start, end, (args.get("tz") or "").strip() or tz)


def filterable_fields(campaign: Campaign) -> list[str]:
    """The names of the fields responses can be filtered by: a public link's declared
    hidden fields; for personal links the custom fields of the invitations (and
    ``team`` unless the campaign is anonymous)."""
    names = [n for n in (campaign.hidden_fields or []) if isinstance(n, str)]
    if campaign.is_personal:
        seen = dict.fromkeys(names)
        has_team = False
        for fields, team_id in db.session.execute(
            select(Invitation.fields, Invitation.team_id).where(
                Invitation.campaign_id == campaign.id
            )
        ):
            has_team = has_team or team_id is not None
            for name in fields or {}:
                seen.setdefault(name, None)
        if has_team and not campaign.anonymous:
            # Responses to a personal link carry the invitee's team by name
            # (see surveys.invitations.attach_response).
            seen.setdefault("team", None)
        names = list(seen)
    return [n for n in names if _FIELD_NAME.match(n)]


def response_field(name: str):
    """SQL expression: the text of field ``name`` of a response's ``fields``."""
    return cast(Response.fields[name].as_string(), String)


def _base_conditions(campaign: Campaign) -> list:
    return [
        Response.campaign_id == campaign.id,
        Response.status == ResponseStatus.COMPLETED,
        Response.deleted_at.is_(None),
    ]


def _filter_conditions(campaign: Campaign, filters: ResultFilters) -> list:
    known = set(filterable_fields(campaign)) if filters.field_filters else set()
    conditions = []
    for name, value in filters.field_filters.items():
        if name not in known:
            raise ServiceError(
                _l("Responses cannot be filtered by “%(name)s”.", name=name), field="fields"
            )
        if len(value) > MAX_FIELD_VALUE:
            raise ServiceError(
                _l("Use at most %(n)d characters.", n=MAX_FIELD_VALUE), field="fields"
            )
        conditions.append(response_field(name) == value)
    zone = filters.zone()
    if filters.date_from:
        conditions.append(Response.submitted_at >= local_day_start(filters.date_from, zone))
    if filters.date_to:
        end = local_day_start(filters.date_to + timedelta(days=1), zone)
        conditions.append(Response.submitted_at < end)
    return conditions


def _count(conditions: list) -> int:
    return db.session.scalar(select(func.count()).select_from(Response).where(*conditions))


def _members(conditions: list) -> tuple:
    """(count, sum of ids, largest id, last submitted) of the responses matching
    ``conditions``: it changes whenever a response joins or leaves the set (completed,
    deleted, restored, erased), and a completed response never changes otherwise."""
    count, total, largest, last = db.session.execute(
        select(func.count(), func.coalesce(func.sum(Response.id), 0),
               func.coalesce(func.max(Response.id), 0), func.max(Response.submitted_at))
        .select_from(Response)
        .where(*conditions)
    ).one()
    return int(count), int(total), int(largest), last


@dataclass
class _Scope:
    conditions: list
    responses: int
    total: int
    members: tuple


def _scope(campaign: Campaign, filters: ResultFilters) -> _Scope:
    """The SQL conditions selecting the filtered responses and their count, after the
    anonymity check."""
    base = _base_conditions(campaign)
    if not filters.active:
        members = _members(base)
        return _Scope(base, members[0], members[0], members)
    total = _count(base)
    conditions = base + _filter_conditions(campaign, filters)
    members = _members(conditions)
    matching = members[0]
    smallest = campaign.min_group_size
    if 0 < matching < smallest:
        raise FilterRefused(lazy_ngettext(
            "Fewer than %(num)d response matches; the results are hidden so no one can be "
            "singled out.",
            "Fewer than %(num)d responses match; the results are hidden so no one can be "
            "singled out.",
            smallest,
        ))
    if 0 < total - matching < smallest:
        raise FilterRefused(lazy_ngettext(
            "All but fewer than %(num)d response match; the results are hidden so no one "
            "can be singled out by comparing them with the unfiltered results.",
            "All but fewer than %(num)d responses match; the results are hidden so no one "
            "can be singled out by comparing them with the unfiltered results.",
            smallest,
        ))
    return _Scope(conditions, matching, total, members)


def filter_choices(campaign: Campaign) -> dict[str, list[str]]:
    """For each filterable field, the values a filter may pick: those held by at
    least ``min_group_size`` completed responses, and not by all but fewer than that.
    (A value held by fewer is not even listed: its presence would tell that someone
    with it answered.)"""
    base = _base_conditions(campaign)
    total = _count(base)
    smallest = campaign.min_group_size
    choices = {}
    for name in filterable_fields(campaign):
        value = response_field(name)
        rows = db.session.execute(
            select(value, func.count())
            .where(*base, value.is_not(None))
            .group_by(value)
            .order_by(value)
        ).all()
        choices[name] = [
            v for v, n in rows
            if v and n >= smallest and not 0 < total - n < smallest
        ]
    return choices


# --------------------------------------------------------------------- the summary


@dataclass
class QuestionSummary:
    """The results of one question. ``details`` depends on the type (see
    ``docs/results.md``); every figure in it carries its own ``n``."""

    key: str
    type: str
    text: qdef.LocalizedText
    n: int
    few: bool
    details: dict
    in_current_version: bool = True
    #: Numbers of versions whose answers to this key were left out (asked differently).
    excluded_versions: list[int] = field(default_factory=list)

    def to_dict(self) -> dict:
        return _plain({
            "key": self.key,
            "type": self.type,
            "text": self.text,
            "n": self.n,
            "few_responses": self.few,
            "in_current_version": self.in_current_version,
            "excluded_versions": self.excluded_versions,
            **self.details,
        })


@dataclass
class CampaignSummary:
    campaign_id: int
    responses: int  # completed responses matching the filters
    total_responses: int  # completed responses of the campaign
    filters: ResultFilters
    min_group_size: int
    questions: list[QuestionSummary]
    versions: list[int]  # numbers of the versions whose responses are included

    @property
    def few(self) -> bool:
        return _few(self.responses, self.min_group_size)

    def question(self, key: str) -> QuestionSummary | None:
        return next((q for q in self.questions if q.key == key), None)

    def to_dict(self) -> dict:
        return _plain({
            "campaign_id": self.campaign_id,
            "responses": self.responses,
            "total_responses": self.total_responses,
            "few_responses": self.few,
            "few_responses_below": max(FEW_RESPONSES, self.min_group_size),
            "min_group_size": self.min_group_size,
            "confidence": CONFIDENCE,
            "filters": self.filters.to_dict(),
            "versions": self.versions,
            "questions": [q.to_dict() for q in self.questions],
        })


def _few(n: int, min_group_size: int) -> bool:
    return n < FEW_RESPONSES or n < min_group_size


def _plain(value):
    """JSON-able: NaN and infinities become ``None``, tuples lists, lazy texts text."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, np.generic):
        return _plain(value.item())
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, str | int | bool):
        return value
    return str(value)


@dataclass
class _Planned:
    question: qdef.Question
    versions: set[int]  # version ids whose answers count
    current: bool
    excluded: list[int]


def _compatible(a: qdef.Question, b: qdef.Question) -> bool:
    """Whether answers to ``b`` can be counted as answers to ``a``."""
    if a.type != b.type:
        return False
    if a.is_scale:
        return (a.scale.min, a.scale.max) == (b.scale.min, b.scale.max)
    if a.type == "ranking":
        return {o.value for o in a.options} == {o.value for o in b.options}
    return True


def _plan(campaign: Campaign, conditions: list) -> tuple[list[_Planned], list[int]]:
    """The questions to summarise, in order, with the versions whose answers count."""
    used = set(db.session.scalars(select(Response.version_id).where(*conditions).distinct()))
    used.add(campaign.version_id)
    versions = db.session.scalars(
        select(QuestionnaireVersion).where(QuestionnaireVersion.id.in_(used))
    ).all()
    versions.sort(key=lambda v: (v.id != campaign.version_id, -v.number))
    definitions = [(v, services.parsed_version(v)) for v in versions]
    plan: dict[str, _Planned] = {}
    for version, definition in definitions:
        for question in definition.questions:
            if question.answerable and question.key not in plan:
                plan[question.key] = _Planned(
                    question, set(), version.id == campaign.version_id, []
                )
    for version, definition in definitions:
        for key, planned in plan.items():
            other = definition.question(key)
            if other is None:
                continue
            if _compatible(planned.question, other):
                planned.versions.add(version.id)
            elif version.id in used:
                planned.excluded.append(version.number)
    return list(plan.values()), sorted(v.number for v in versions if v.id in used)


def _keys_by_version(plan: list[_Planned], wanted) -> dict[int, list[str]]:
    by_version: dict[int, list[str]] = defaultdict(list)
    for planned in plan:
        if wanted(planned.question):
            for version_id in planned.versions:
                by_version[version_id].append(planned.question.key)
    return by_version


def _answer_condition(by_version: dict[int, list[str]]):
    return or_(*(
        and_(Response.version_id == version_id, Answer.question_key.in_(keys))
        for version_id, keys in sorted(by_version.items())
    ))


def summarize(campaign: Campaign, filters: ResultFilters | None = None) -> CampaignSummary:
    """The results of every question of ``campaign`` for the responses matching
    ``filters``.

    Raises :class:`FilterRefused` when the filter would single out (or leave out) fewer
    than ``campaign.min_group_size`` respondents, and :class:`ServiceError` for a
    filter on a field the campaign does not have.

    Summaries are kept for :data:`SUMMARY_TTL` seconds per process, for as long as the
    set of responses they rest on is the same (the same count, ids and settings). Treat
    the result as read-only.
    """
    filters = filters or ResultFilters()
    scope = _scope(campaign, filters)
    key = (
        campaign.id, campaign.created_at, campaign.version_id, campaign.min_group_size,
        campaign.anonymous, _filters_key(filters), scope.total, scope.members,
    )
    now = time_module.monotonic()
    with _summaries_lock:
        cached = _summaries.get(key)
        if cached is not None and now - cached[0] < SUMMARY_TTL:
            _summaries.move_to_end(key)
            return cached[1]
    summary = _summarize(campaign, filters, scope)
    with _summaries_lock:
        _summaries[key] = (now, summary)
        while len(_summaries) > SUMMARIES_CACHED:
            _summaries.popitem(last=False)
    return summary


def _filters_key(filters: ResultFilters) -> tuple:
    return (
        tuple(sorted(filters.field_filters.items())), filters.date_from, filters.date_to,
        filters.zone().key if filters.active else None,
    )


def _summarize(campaign: Campaign, filters: ResultFilters, scope: _Scope) -> CampaignSummary:
    plan, version_numbers = _plan(campaign, scope.conditions)
    rows: dict[str, list[tuple[str, float | None, str | None, int]]] = defaultdict(list)
    respondents: dict[str, int] = {}
    text_stats: dict[str, tuple[int, int]] = {}
    if scope.responses:
        rows = _grouped_answers(plan, scope.conditions)
        respondents = _respondents(plan, scope.conditions)
        text_stats = _text_counts(plan, scope.conditions)
    questions = []
    for planned in plan:
        question = planned.question
        key_rows = rows.get(question.key, [])
        if question.type in qdef.TEXT_TYPES:
            count, last_id = text_stats.get(question.key, (0, 0))
            details = _text_details(campaign, planned, scope, filters, count, last_id)
            n = count
        else:
            n, details = _details(question, key_rows, respondents.get(question.key, 0))
        questions.append(QuestionSummary(
            key=question.key,
            type=question.type,
            text=question.text,
            n=n,
            few=_few(n, campaign.min_group_size),
            details=details,
            in_current_version=planned.current,
            excluded_versions=sorted(planned.excluded),
        ))
    return CampaignSummary(
        campaign_id=campaign.id,
        responses=scope.responses,
        total_responses=scope.total,
        filters=filters,
        min_group_size=campaign.min_group_size,
        questions=questions,
        versions=version_numbers,
    )


def _grouped_answers(plan: list[_Planned], conditions: list):
    """(item, value_num, value_text, count) per question key, over compatible versions."""
    by_version = _keys_by_version(plan, lambda q: q.type not in qdef.TEXT_TYPES)
    out: dict[str, list] = defaultdict(list)
    if not by_version:
        return out
    merged: dict[tuple, int] = defaultdict(int)
    query = (
        select(
            Answer.question_key,
            Answer.item_key,
            Answer.value_num,
            Answer.value_text,
            func.count(),
        )
        .select_from(Answer)
        .join(Response, Response.id == Answer.response_id)
        .where(*conditions, _answer_condition(by_version))
        .group_by(Answer.question_key, Answer.item_key, Answer.value_num, Answer.value_text)
    )
    for key, item, num, text, count in db.session.execute(query):
        merged[(key, item or "", num, text)] += count
    for (key, item, num, text), count in merged.items():
        out[key].append((item, num, text, count))
    return out


def _respondents(plan: list[_Planned], conditions: list) -> dict[str, int]:
    """Respondents per question whose answer takes several rows (a matrix, a multiple
    choice): a percentage "of respondents" needs them."""
    by_version = _keys_by_version(plan, lambda q: q.type in ("matrix", "multiple_choice"))
    if not by_version:
        return {}
    return dict(db.session.execute(
        select(Answer.question_key, func.count(func.distinct(Answer.response_id)))
        .select_from(Answer)
        .join(Response, Response.id == Answer.response_id)
        .where(*conditions, _answer_condition(by_version))
        .group_by(Answer.question_key)
    ).all())


def _text_counts(plan: list[_Planned], conditions: list) -> dict[str, tuple[int, int]]:
    by_version = _keys_by_version(plan, lambda q: q.type in qdef.TEXT_TYPES)
    if not by_version:
        return {}
    return {
        key: (count, last)
        for key, count, last in db.session.execute(
            select(Answer.question_key, func.count(), func.max(Answer.id))
            .select_from(Answer)
            .join(Response, Response.id == Answer.response_id)
            .where(*conditions, _answer_condition(by_version))
            .group_by(Answer.question_key)
        )
    }


# --------------------------------------------------------------------- statistics


def _mean_ci(values: np.ndarray) -> tuple[float, float, float, float]:
    """Mean, SD (n − 1) and the two-sided t interval of the mean; NaN where undefined
    (no values; SD and interval need two)."""
    n = values.size
    if n == 0:
        return (math.nan,) * 4
    mean = float(values.mean())
    if n < 2:
        return mean, math.nan, math.nan, math.nan
    sd = float(values.std(ddof=1))
    half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1)) * sd / math.sqrt(n)
    return mean, sd, mean - half, mean + half


def _expand(pairs: list[tuple[float, int]]) -> np.ndarray:
    if not pairs:
        return np.array([], dtype=float)
    values, counts = zip(*pairs, strict=True)
    return np.repeat(np.asarray(values, dtype=float), np.asarray(counts, dtype=int))


def _share(count: int, n: int) -> float | None:
    return count / n if n else None


def _scale_details(question: qdef.Question, rows: list) -> dict:
    """Distribution over the scale points, n (answers on the scale), "not applicable",
    mean, SD and the t interval of the mean — on the scale and on 0–100 (POMP)."""
    scale = question.scale
    counts = dict.fromkeys(scale.values, 0)
    not_applicable = 0
    for _item, num, text, count in rows:
        if num is None and text == qdef.NA:
            not_applicable += count
        elif num is not None and int(num) in counts and num == int(num):
            counts[int(num)] += count
    values = _expand([(p, c) for p, c in counts.items() if c])
    n = int(values.size)
    mean, sd, low, high = _mean_ci(values)
    if not math.isnan(low):
        # On a bounded scale the mean cannot leave it, so neither does its interval.
        low, high = max(low, scale.min), min(high, scale.max)
    pomp = [_pomp(v, scale) for v in (mean, low, high)]
    return {
        "n": n,
        "not_applicable": not_applicable,
        "scale": {"min": scale.min, "max": scale.max},
        "distribution": [
            {"value": point, "label": scale.label(point), "count": count,
             "share": _share(count, n)}
            for point, count in counts.items()
        ],
        "mean": mean,
        "sd": sd,
        "ci_low": low,
        "ci_high": high,
        "pomp": {"mean": pomp[0], "ci_low": pomp[1], "ci_high": pomp[2]},
    }


def _pomp(value: float, scale: qdef.Scale) -> float:
    """``value`` of the scale on 0–100 (percent of maximum possible)."""
    return math.nan if math.isnan(value) else float(scoring.pomp(value, scale.min, scale.max))


def _estimate(result) -> dict:
    return {"value": result.value, "ci_low": result.ci_low, "ci_high": result.ci_high}


def _index_details(question: qdef.Question, scale: dict) -> dict:
    """NPS, CSAT or CES of a fixed-scale question, computed by :mod:`scoring`."""
    values = _expand([(d["value"], d["count"]) for d in scale["distribution"] if d["count"]])
    if question.type == "nps":
        r = scoring.nps(values, confidence=CONFIDENCE)
        return {"nps": {
            **_estimate(r), "n": r.n, "promoters": r.promoters, "passives": r.passives,
            "detractors": r.detractors, "promoters_share": _share(r.promoters, r.n),
            "passives_share": _share(r.passives, r.n),
            "detractors_share": _share(r.detractors, r.n),
        }}
    if question.type == "csat":
        r = scoring.csat(values, scale_max=question.scale.max, confidence=CONFIDENCE)
        return {"csat": {**_estimate(r), "n": r.n, "satisfied": r.satisfied,
                         "satisfied_share": _share(r.satisfied, r.n)}}
    r = scoring.ces(values, scale_max=question.scale.max, confidence=CONFIDENCE)
    return {"ces": {
        **_estimate(r), "n": r.n, "agree": r.agree,
        "percent_agree": _estimate(r.percent_agree),
    }}


def _option_label(question: qdef.Question, value: str):
    option = question.option(value)
    return option.label if option is not None else None


def _choice_details(question: qdef.Question, rows: list, respondents: int) -> tuple[int, dict]:
    multiple = question.type == "multiple_choice"
    counts: dict[str, int] = {o.value: 0 for o in question.options}
    for item, _num, text, count in rows:
        value = item if multiple else text
        if value:
            counts[value] = counts.get(value, 0) + count
    n = respondents if multiple else sum(counts.values())
    return n, {
        "n": n,
        "options": [
            {"value": value, "label": _option_label(question, value), "count": count,
             "share": _share(count, n), "removed": question.option(value) is None}
            for value, count in counts.items()
        ],
    }


def _ranking_details(question: qdef.Question, rows: list) -> tuple[int, dict]:
    totals: dict[str, list[float]] = {o.value: [0, 0.0, 0] for o in question.options}
    for item, num, _text, count in rows:
        if item in totals and num is not None:
            entry = totals[item]
            entry[0] += count
            entry[1] += num * count
            entry[2] += count if num == 1 else 0
    n = sum(entry[2] for entry in totals.values())  # one first place per respondent
    options = [
        {"value": value, "label": _option_label(question, value),
         "mean_rank": (total / answered) if answered else None,
         "first": first, "first_share": _share(first, n), "n": answered}
        for value, (answered, total, first) in totals.items()
    ]
    options.sort(key=lambda o: (o["mean_rank"] is None, o["mean_rank"] or 0))
    return n, {"n": n, "options": options}


def _number_details(rows: list) -> tuple[int, dict]:
    pairs = [(num, count) for _item, num, _text, count in rows if num is not None]
    values = _expand(pairs)
    n = int(values.size)
    mean, sd, low, high = _mean_ci(values)
    details = {
        "n": n, "mean": mean, "median": float(np.median(values)) if n else math.nan,
        "sd": sd, "min": float(values.min()) if n else math.nan,
        "max": float(values.max()) if n else math.nan, "ci_low": low, "ci_high": high,
        "histogram": [],
    }
    if n:
        distinct = sorted({num for num, _count in pairs})
        if len(distinct) <= 12:
            totals = defaultdict(int)
            for num, count in pairs:
                totals[num] += count
            details["histogram"] = [
                {"low": v, "high": v, "count": totals[v]} for v in distinct
            ]
        else:
            counts, edges = np.histogram(values, bins=min(10, len(distinct)))
            details["histogram"] = [
                {"low": float(edges[i]), "high": float(edges[i + 1]), "count": int(c)}
                for i, c in enumerate(counts)
            ]
    return n, details


def _date_details(rows: list) -> tuple[int, dict]:
    days: dict[str, int] = defaultdict(int)
    for _item, _num, text, count in rows:
        if text and re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            days[text] += count
    n = sum(days.values())
    months: dict[str, int] = defaultdict(int)
    for day, count in days.items():
        months[day[:7]] += count
    return n, {
        "n": n,
        "earliest": min(days) if days else None,
        "latest": max(days) if days else None,
        "by_month": [{"month": m, "count": c} for m, c in sorted(months.items())],
    }


def _details(question: qdef.Question, rows: list, respondents: int) -> tuple[int, dict]:
    t = question.type
    if t == "matrix":
        items = []
        for item in question.items:
            item_rows = [r for r in rows if r[0] == item.key]
            items.append({"key": item.key, "text": item.text, "reverse": item.reverse,
                          **_scale_details(question, item_rows)})
        return respondents, {"n": respondents, "items": items,
                             "scale": {"min": question.scale.min, "max": question.scale.max}}
    if question.is_scale:
        details = _scale_details(question, rows)
        if t in ("nps", "csat", "ces"):
            details.update(_index_details(question, details))
        return details["n"], details
    if t in ("single_choice", "dropdown", "multiple_choice"):
        return _choice_details(question, rows, respondents)
    if t == "ranking":
        return _ranking_details(question, rows)
    if t == "number":
        return _number_details(rows)
    if t == "date":
        return _date_details(rows)
    raise ValueError(f"no summary for questions of type {t!r}")


# --------------------------------------------------------------------- free text

_WORDS_CACHED = 256
_words: OrderedDict[tuple, list] = OrderedDict()
_words_lock = threading.Lock()
_summaries: OrderedDict[tuple, tuple[float, CampaignSummary]] = OrderedDict()
_summaries_lock = threading.Lock()


def _text_query(campaign: Campaign, planned: _Planned, conditions: list):
    order = (
        (Answer.value_text, Answer.id)  # no hint of when (or in which order) anyone answered
        if campaign.anonymous
        else (Response.submitted_at.desc(), Answer.id.desc())
    )
    return (
        select(Answer.value_text)
        .select_from(Answer)
        .join(Response, Response.id == Answer.response_id)
        .where(
            *conditions,
            Answer.question_key == planned.question.key,
            Response.version_id.in_(sorted(planned.versions)),
            Answer.value_text.is_not(None),
        )
        .order_by(*order)
    )


def _text_details(campaign, planned, scope, filters, count: int, last_id: int) -> dict:
    words: list = []
    sampled = min(count, WORD_SAMPLE)
    shown: list[str] = []
    if count:
        cache_key = (
            campaign.id, planned.question.key, tuple(sorted(planned.versions)),
            _filters_key(filters), count, last_id,
        )
        with _words_lock:
            words = _words.get(cache_key)
            if words is not None:
                _words.move_to_end(cache_key)
        if words is None:
            newest = (
                select(Answer.value_text)
                .select_from(Answer)
                .join(Response, Response.id == Answer.response_id)
                .where(*scope.conditions, Answer.question_key == planned.question.key,
                       Response.version_id.in_(sorted(planned.versions)),
                       Answer.value_text.is_not(None))
                .order_by(Answer.id.desc())
                .limit(WORD_SAMPLE)
            )
            words = [
                {"word": w, "count": c, "share": _share(c, sampled)}
                for w, c in textwords.word_counts(db.session.scalars(newest), TOP_WORDS)
            ]
            with _words_lock:
                _words[cache_key] = words
                while len(_words) > _WORDS_CACHED:
                    _words.popitem(last=False)
        shown = list(db.session.scalars(
            _text_query(campaign, planned, scope.conditions).limit(TEXT_SHOWN)
        ))
    return {
        "n": count,
        "words": words,
        "words_from": sampled,
        "answers": shown,
        "more_answers": count > len(shown),
    }


@dataclass
class TextAnswers:
    """One page of the answers to a free-text question (no names, no dates)."""

    question: qdef.Question
    answers: list[str]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def prev_num(self) -> int:
        return self.page - 1

    @property
    def next_num(self) -> int:
        return self.page + 1


def text_answers(campaign: Campaign, question_key: str, filters: ResultFilters | None = None,
                 *, page: int = 1, per_page: int = TEXT_PAGE_SIZE) -> TextAnswers:
    """A page of the answers to free-text question ``question_key`` under ``filters``
    (refused like :func:`summarize`). Raises :class:`~core.exceptions.NotFound` for a
    key that is not a text question of the campaign."""
    from core.exceptions import NotFound

    filters = filters or ResultFilters()
    scope = _scope(campaign, filters)
    plan, _numbers = _plan(campaign, scope.conditions)
    planned = next((p for p in plan if p.question.key == question_key), None)
    if planned is None or planned.question.type not in qdef.TEXT_TYPES:
        raise NotFound(_l("No such question."))
    query = _text_query(campaign, planned, scope.conditions)
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    page = max(1, page)
    answers = list(db.session.scalars(query.limit(per_page).offset((page - 1) * per_page)))
    return TextAnswers(planned.question, answers, total, page, per_page)


def clear_caches() -> None:
    """Forget the summaries and word counts kept by this process (tests, benchmarks)."""
    with _summaries_lock:
        _summaries.clear()
    with _words_lock:
        _words.clear()
