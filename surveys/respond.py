"""The respondent flow behind an open link: one page at a time, saved on the server,
resumable from the same browser, submitted exactly once."""

from __future__ import annotations

import secrets
import time
from typing import NamedTuple

from flask import (
    Blueprint,
    abort,
    current_app,
    g,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.exc import IntegrityError, OperationalError

from core.exceptions import CapacityReached, ConflictError, ServiceError
from core.extensions import db
from core.i18n import current_language
from surveys import campaigns as campaign_admin
from surveys import definition as qdef
from surveys import invitation_routes as personal
from surveys import invitations, services
from surveys.models import Campaign, Response

bp = Blueprint("respond", __name__, url_prefix="/s")

RESUME_DAYS = 90


class _Link(NamedTuple):
    """A campaign's id and slug, read before a commit expires the campaign."""

    id: int
    public_slug: str


def _cookie_name(campaign: Campaign | _Link) -> str:
    return f"orbit_r{campaign.id}"


def _timer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="orbit.page-timer")


def _seconds_on_page(token: str | None, page_key: str) -> float | None:
    """Seconds since the page was rendered, from a signed timestamp in the form."""
    if not token:
        return None
    try:
        signed_page, rendered = _timer().loads(token, return_timestamp=True)
    except BadSignature:
        return None
    if signed_page != page_key:
        return None
    return max(0.0, time.time() - rendered.timestamp())


def _campaign_or_404(slug: str) -> Campaign:
    campaign = services.find_campaign(slug)
    if campaign is None:
        abort(404)
    if campaign.is_personal:
        _require_invitation(campaign)
    _use_campaign_language(campaign)
    return campaign


def _require_invitation(campaign: Campaign) -> None:
    """A personal campaign answers only a browser that opened a valid invitation link
    (``/i/<token>``); anyone else gets the page of an invalid link. Once the
    invitation is used, only the browser that used it still sees its thank-you page."""
    invitation = personal.bound_invitation(campaign)
    if invitation is None:
        abort(personal.invalid_link_page())
    if invitation.completed_at is not None:
        response = _current_response(campaign)
        if response is None or not response.is_completed:
            abort(personal.invalid_link_page())


def _use_campaign_language(campaign: Campaign) -> None:
    """Speak the invitee's language, else the campaign's default language, to a
    respondent who has not chosen one (with the language switch, or in their
    account): it wins over the browser's Accept-Language, never over a choice
    (see :func:`core.i18n.select_locale`)."""
    invitation = g.get("orbit_invitation")
    code = (invitation.locale if invitation is not None else None) or campaign.default_locale
    if code:
        g.orbit_default_locale = code


def _fields_key(campaign: Campaign) -> str:
    return f"orbit_f{campaign.id}"


def _link_fields(campaign: Campaign) -> dict | None:
    """The validated hidden fields this browser arrived with (kept in the session)."""
    return session.get(_fields_key(campaign)) or None


def _pending_key(campaign: Campaign) -> str:
    return f"orbit_p{campaign.id}"


def _pending_token(campaign: Campaign) -> str | None:
    """The resume token chosen for this browser's first save, while it has no cookie.

    It is picked when the form is first shown and kept in the session, so two POSTs of
    that form sent before the first answer arrives (a double click) carry the same
    token: the second finds, or collides with, the response of the first instead of
    starting another one.
    """
    if request.cookies.get(_cookie_name(campaign)):
        return None
    return session.get(_pending_key(campaign))


def _current_response(campaign: Campaign) -> Response | None:
    invitation = g.get("orbit_invitation") if campaign.is_personal else None
    if invitation is not None and not campaign.anonymous:
        # The invitation's own response, from any browser its link was opened in.
        return invitations.response_of(invitation)
    token = request.cookies.get(_cookie_name(campaign)) or _pending_token(campaign)
    return services.find_response(campaign, token)


def _locale() -> str:
    return current_language()


def _page_position(definition, answers, page) -> tuple[int, int, list]:
    pages = qdef.visible_pages(definition, answers)
    keys = [p.key for p in pages]
    index = keys.index(page.key) if page.key in keys else 0
    return index, len(pages), pages


def _render_page(campaign, definition, page, answers, *, errors=None, raw=None, status=200):
    index, total, _pages = _page_position(definition, answers, page)
    questions = qdef.visible_questions(page, answers)
    body = render_template(
        "surveys/respond_page.html",
        campaign=campaign,
        definition=definition,
        page=page,
        questions=questions,
        answers=answers,
        errors=errors or {},
        raw=raw,
        index=index,
        total=total,
        is_last=index == total - 1,
        timer=_timer().dumps(page.key),
        locale=_locale(),
    )
    response = make_response(body, status)
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _state_page(campaign, state: str):
    definition = services.parsed_version(campaign.version)
    return make_response(
        render_template(
            "surveys/respond_state.html",
            campaign=campaign,
            definition=definition,
            state=state,
            locale=_locale(),
        )
    )


def _current_page(definition, answers, response: Response | None):
    pages = qdef.visible_pages(definition, answers)
    if response is not None and response.current_page:
        for page in pages:
            if page.key == response.current_page:
                return page
    return pages[0]


@bp.get("/<slug>")
def answer(slug: str):
    campaign = _campaign_or_404(slug)
    if campaign_admin.has_hidden_fields(campaign, request.args):
        # Keep the declared fields of the link (e.g. ?ticket=…&channel=…) for the
        # response, and take them out of the address bar (and of any Referer).
        session[_fields_key(campaign)] = campaign_admin.read_hidden_fields(
            campaign, request.args
        )
        response = redirect(url_for("respond.answer", slug=slug), code=303)
        response.headers["Referrer-Policy"] = "no-referrer"
        return response
    response = _current_response(campaign)
    if response is not None and response.is_completed:
        return redirect(url_for("respond.thanks", slug=slug))
    state = services.campaign_state(campaign)
    if state != "open":
        return _state_page(campaign, state)
    if response is None and _pending_key(campaign) not in session:
        session[_pending_key(campaign)] = secrets.token_urlsafe(32)
    # A respondent who started on an older version finishes on it.
    version = response.version if response is not None else campaign.version
    definition = services.parsed_version(version)
    answers = services.load_answers(response) if response is not None else {}
    page = _current_page(definition, answers, response)
    return _render_page(campaign, definition, page, answers)


@bp.post("/<slug>")
def save(slug: str):
    campaign = _campaign_or_404(slug)
    pending = _pending_token(campaign)
    response = _current_response(campaign)
    if response is not None and response.is_completed:
        return _redirect_with_cookie(campaign, "respond.thanks", pending)
    state = services.campaign_state(campaign)
    if state != "open":
        return _state_page(campaign, state)
    version = response.version if response is not None else campaign.version
    definition = services.parsed_version(version)
    answers = services.load_answers(response) if response is not None else {}
    page = definition.page(request.form.get("page", ""))
    if page is None or page.key not in {p.key for p in qdef.visible_pages(definition, answers)}:
        # A stale or forged form: show where the respondent really is.
        return redirect(url_for("respond.answer", slug=slug))
    action = request.form.get("action", "next")
    seconds = _seconds_on_page(request.form.get("t"), page.key)
    page_answers, errors = qdef.read_page(page, request.form, answers, _locale())
    merged = {**answers, **page_answers}
    index, total, pages = _page_position(definition, merged, page)

    # Without JavaScript a question that depends on an answer on this same page
    # appears only after the page is sent: show the page again with it instead of
    # moving on (and don't count it as unanswered yet).
    shown_before = {q.key for q in qdef.visible_questions(page, answers)}
    newly_shown = {q.key for q in qdef.visible_questions(page, merged)} - shown_before
    show_again = bool(newly_shown) and not newly_shown & set(page_answers)
    final = (
        action == "submit" and index == total - 1 and not errors and not show_again
    )

    new_token = pending if response is not None else None
    if response is None and not final:
        try:
            response, new_token = services.start_response(
                campaign, locale=_locale(), token=pending, fields=_link_fields(campaign),
                invitation=g.get("orbit_invitation"),
            )
        except IntegrityError:
            # The other POST of a double click started this response first.
            db.session.rollback()
            return _redirect_with_cookie(campaign, "respond.answer", pending)

    if action == "back":
        previous = pages[index - 1].key if index > 0 else page.key
        # Keep what is valid; the respondent will come back to fix the rest.
        services.save_page(
            response, page.key, page_answers, next_page=previous, seconds=seconds, stored=answers
        )
        db.session.commit()
        return _redirect_with_cookie(campaign, "respond.answer", new_token)

    if show_again:
        errors = {
            key: messages
            for key, messages in errors.items()
            if not any(key == k or key.startswith(f"{k}-") for k in newly_shown)
        }
        if not errors:
            services.save_page(
                response, page.key, page_answers, next_page=page.key, seconds=seconds,
                stored=answers,
            )
            db.session.commit()
            return _redirect_with_cookie(campaign, "respond.answer", new_token)

    if errors:
        if new_token is not None:
            db.session.commit()  # keep the fresh response so the cookie is valid
        result = _render_page(
            campaign, definition, page, merged, errors=errors, raw=request.form, status=422
        )
        return _with_cookie(campaign, result, new_token)

    if final:
        link = _Link(campaign.id, campaign.public_slug)
        try:
            if response is None:
                # The first save is the final submit (a one-page survey).
                _, new_token = services.submit_new_response(
                    campaign, page.key, page_answers, locale=_locale(), token=pending,
                    seconds=seconds, fields=_link_fields(campaign),
                    invitation=g.get("orbit_invitation"),
                )
            else:
                services.submit_response(
                    response, page.key, page_answers, seconds=seconds, locale=_locale(),
                    stored=answers,
                )
            db.session.commit()
        except IntegrityError:
            # The other POST of a double click stored the response first.
            db.session.rollback()
            return _redirect_with_cookie(link, "respond.thanks", pending)
        except ServiceError as exc:
            db.session.rollback()
            if isinstance(exc, CapacityReached):
                # Someone else took the last place while this page was open.
                return _state_page(services.find_campaign(link.public_slug), "full")
            if isinstance(exc, ConflictError):
                return _redirect_with_cookie(link, "respond.thanks", new_token)
            missing = set(exc.errors)
            first = next(
                (p for p in qdef.visible_pages(definition, merged)
                 if any(q.key in missing for q in p.questions)),
                page,
            )
            return _render_page(campaign, definition, first, merged, errors=exc.errors, status=422)
        except OperationalError:
            # A concurrent submit of the same response held the database: the
            # other one completed it (or will); the respondent sees the outcome.
            db.session.rollback()
            if response is None and not _completed_within(campaign, seconds=2.0):
                # This request was creating the response and nothing is stored: no
                # "thank you"; the browser still has the form to send again.
                abort(503)
        return _redirect_with_cookie(link, "respond.thanks", new_token or pending)

    following = pages[index + 1].key if index + 1 < total else page.key
    services.save_page(
        response, page.key, page_answers, next_page=following, seconds=seconds, stored=answers
    )
    db.session.commit()
    return _redirect_with_cookie(campaign, "respond.answer", new_token)


def _completed_within(campaign: Campaign, *, seconds: float) -> bool:
    """Whether this browser's response is (or becomes, within ``seconds``) completed,
    e.g. by the other POST of a double click that still holds the database."""
    deadline = time.monotonic() + seconds
    while True:
        stored = _current_response(campaign)
        if stored is not None and stored.is_completed:
            return True
        db.session.rollback()
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


@bp.get("/<slug>/thanks")
def thanks(slug: str):
    campaign = _campaign_or_404(slug)
    response = _current_response(campaign)
    if response is None or not response.is_completed:
        return redirect(url_for("respond.answer", slug=slug))
    definition = services.parsed_version(response.version)
    return render_template(
        "surveys/respond_thanks.html",
        campaign=campaign,
        definition=definition,
        locale=_locale(),
        answer_again=_may_answer_again(campaign),
    )


def _may_answer_again(campaign: Campaign) -> bool:
    """A public campaign that allows several responses per browser (a kiosk)."""
    return not campaign.is_personal and not campaign.one_response_per_browser


@bp.post("/<slug>/again")
def again(slug: str):
    """Start a fresh response in this browser: forget the finished one (its cookie and
    the token chosen for it); the hidden fields of the link are kept."""
    campaign = _campaign_or_404(slug)
    if not _may_answer_again(campaign):
        abort(404)
    response = _current_response(campaign)
    if response is not None and not response.is_completed:
        return redirect(url_for("respond.answer", slug=slug), code=303)
    session.pop(_pending_key(campaign), None)
    result = redirect(url_for("respond.answer", slug=slug), code=303)
    result.delete_cookie(
        _cookie_name(campaign),
        path=f"/s/{campaign.public_slug}",
        secure=current_app.config["SESSION_COOKIE_SECURE"],
        httponly=True,
        samesite="Lax",
    )
    return result


def _with_cookie(campaign: Campaign | _Link, response, token: str | None):
    if token is not None:
        response.set_cookie(
            _cookie_name(campaign),
            token,
            max_age=RESUME_DAYS * 24 * 3600,
            path=f"/s/{campaign.public_slug}",
            secure=current_app.config["SESSION_COOKIE_SECURE"],
            httponly=True,
            samesite="Lax",
        )
    return response


def _redirect_with_cookie(campaign: Campaign | _Link, endpoint: str, token: str | None):
    return _with_cookie(
        campaign, redirect(url_for(endpoint, slug=campaign.public_slug), code=303), token
    )
