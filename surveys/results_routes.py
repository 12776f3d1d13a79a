"""Admin pages of a campaign's progress and results: the dashboard, the per-question
summary with its filters, and the answers to a free-text question."""

from __future__ import annotations

from datetime import date

from babel.dates import format_skeleton
from flask import Blueprint, abort, render_template, request
from flask_babel import format_decimal, get_locale
from flask_babel import gettext as _
from markupsafe import Markup

from core.exceptions import NotFound, ServiceError
from core.i18n import current_language
from org.routes import admin_required
from surveys import campaigns, charts, results
from surveys.campaign_routes import campaign_or_404
from surveys.dashboard import progress
from surveys.definition import localized

bp = Blueprint("results", __name__, url_prefix="/campaigns")

CHART_WORDS = 15  # the table lists all TOP_WORDS


def _day_label(day: date) -> str:
    return format_skeleton("MMMd", day, locale=get_locale())


def _count_and_share(count: int, share: float | None) -> str:
    text = format_decimal(count)
    return f"{text} ({format_decimal(share, '#,##0%')})" if share is not None else text


# --------------------------------------------------------------------- dashboard


@bp.get("/<int:campaign_id>/dashboard")
@admin_required
def dashboard(campaign_id: int):
    campaign = campaign_or_404(campaign_id)
    data = progress(campaign)
    timeline = [
        {**point, "day": date.fromisoformat(point["date"])} for point in data["timeline"]
    ]
    chart = None
    if timeline:
        chart = charts.timeline_chart(
            [p["cumulative"] for p in timeline],
            [_day_label(p["day"]) for p in timeline],
            title=_("Completed responses over time"),
            axis_label=_("Completed"),
            target=data.get("invited") or data.get("cap"),
        )
    return render_template(
        "surveys/results/dashboard.html",
        campaign=campaign,
        data=data,
        timeline=timeline,
        chart=chart,
        status=campaigns.campaign_status(campaign, completed=data["completed"]),
    )


# --------------------------------------------------------------------- results


def _label(text, fallback: str) -> str:
    return localized(text, current_language()) or fallback


def _scale_bars(question: results.QuestionSummary, distribution: list[dict]) -> list:
    def tone(point: int) -> str:
        if question.type == "nps":
            return "bad" if point <= 6 else "neutral" if point <= 8 else "good"
        if question.type == "csat":
            return "good" if point >= question.details["scale"]["max"] - 1 else "brand"
        return "brand"

    bars = []
    for entry in distribution:
        label = str(entry["value"])
        if entry["label"]:
            label = f"{entry['value']} · {_label(entry['label'], '')}"
        bars.append(charts.Bar(label, entry["count"],
                               _count_and_share(entry["count"], entry["share"]),
                               tone(entry["value"])))
    return bars


def _number_label(low: float, high: float) -> str:
    if low == high:
        return format_decimal(low)
    return f"{format_decimal(low, '#,##0.##')} – {format_decimal(high, '#,##0.##')}"


def question_chart(question: results.QuestionSummary) -> Markup | None:
    """The chart of one question's results (``None`` when there is nothing to draw)."""
    if not question.n:
        return None
    title = _label(question.text, question.key)
    d = question.details
    t = question.type
    if t in ("single_choice", "dropdown", "multiple_choice"):
        bars = [
            charts.Bar(_label(o["label"], o["value"]), o["count"],
                       _count_and_share(o["count"], o["share"]))
            for o in d["options"]
        ]
        return charts.bar_chart(bars, title=title, axis_label=_("Respondents"))
    if t == "matrix":
        points = d["items"][0]["distribution"] if d["items"] else []
        segments = [
            f"{p['value']} · {_label(p['label'], '')}" if p["label"] else str(p["value"])
            for p in points
        ]
        rows = [_label(item["text"], item["key"]) for item in d["items"]]
        shares = [[entry["share"] or 0 for entry in item["distribution"]] for item in d["items"]]
        return charts.stacked_chart(rows, segments, shares, title=title)
    if question.type in ("likert", "nps", "csat", "ces"):
        return charts.bar_chart(_scale_bars(question, d["distribution"]), title=title,
                                axis_label=_("Answers"))
    if t == "number":
        bars = [
            charts.Bar(_number_label(b["low"], b["high"]), b["count"], format_decimal(b["count"]))
            for b in d["histogram"]
        ]
        return charts.bar_chart(bars, title=title, axis_label=_("Answers"))
    if t == "date":
        bars = [
            charts.Bar(format_skeleton("yMMM", date.fromisoformat(m["month"] + "-01"),
                                       locale=get_locale()),
                       m["count"], format_decimal(m["count"]))
            for m in d["by_month"]
        ]
        return charts.bar_chart(bars, title=title, axis_label=_("Answers"))
    if t == "ranking":
        bars = [
            charts.Bar(_label(o["label"], o["value"]), o["mean_rank"] or 0,
                       format_decimal(o["mean_rank"], "#,##0.00") if o["mean_rank"] else "—")
            for o in d["options"]
        ]
        return charts.bar_chart(bars, title=title, axis_label=_("Mean rank (1 = first)"),
                                axis_max=len(d["options"]))
    if t in ("short_text", "long_text") and d["words"]:
        bars = [
            charts.Bar(w["word"], w["count"], format_decimal(w["count"]))
            for w in d["words"][:CHART_WORDS]
        ]
        return charts.bar_chart(bars, title=title, axis_label=_("Answers mentioning the word"))
    return None


def _filters_or_error():
    """The filters of the query string, or the message saying what is wrong with them."""
    try:
        return results.ResultFilters.from_query(request.args), None
    except ServiceError as exc:
        return results.ResultFilters(), str(exc.message)


@bp.get("/<int:campaign_id>/results")
@admin_required
def summary(campaign_id: int):
    campaign = campaign_or_404(campaign_id)
    filters, problem = _filters_or_error()
    summary = refused = None
    question_charts = {}
    if problem is None:
        try:
            summary = results.summarize(campaign, filters)
        except results.FilterRefused as exc:
            refused = str(exc.message)
        except ServiceError as exc:  # a field the campaign does not have
            problem = str(exc.message)
        else:
            question_charts = {q.key: question_chart(q) for q in summary.questions}
    return render_template(
        "surveys/results/summary.html",
        campaign=campaign,
        status=campaigns.campaign_status(campaign),
        filters=filters,
        choices=results.filter_choices(campaign),
        summary=summary,
        charts=question_charts,
        refused=refused,
        problem=problem,
        few_below=results.FEW_RESPONSES,
        query=_filter_query(),
    )


def _filter_query() -> dict:
    """The filter parameters of this request, to carry over to links."""
    return {k: v for k, v in request.args.items() if k in ("from", "to") or k.startswith("f.")}


@bp.get("/<int:campaign_id>/results/questions/<question_key>/answers")
@admin_required
def text_answers(campaign_id: int, question_key: str):
    campaign = campaign_or_404(campaign_id)
    filters, problem = _filters_or_error()
    page = refused = None
    if problem is None:
        try:
            number = max(1, int(request.args.get("page", 1)))
        except ValueError:
            number = 1
        try:
            page = results.text_answers(campaign, question_key, filters, page=number)
        except results.FilterRefused as exc:
            refused = str(exc.message)
        except NotFound:
            abort(404)
        except ServiceError as exc:
            problem = str(exc.message)
    return render_template(
        "surveys/results/text_answers.html",
        campaign=campaign,
        status=campaigns.campaign_status(campaign),
        question_key=question_key,
        page=page,
        refused=refused,
        problem=problem,
        filters=filters,
        query=_filter_query(),
    )
