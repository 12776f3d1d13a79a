"""HTML pages for logging in, one's account and the admin pages for the organisation."""

from __future__ import annotations

from functools import wraps

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import func, or_, select

from core.exceptions import NotFound, PermissionDenied, ServiceError
from core.extensions import db, limiter
from core.redirects import safe_next_url
from org import services
from org.auth import enforce_password_change
from org.forms import ChangePasswordForm, ConfirmForm, LoginForm, TeamForm, UserForm, VendorForm
from org.models import ROLES, Team, User, Vendor

bp = Blueprint("org", __name__)
bp.before_app_request(enforce_password_change)


def _login_rate_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def _email_key() -> str:
    return "login:" + (request.form.get("email") or "").strip().lower()


def admin_required(view):
    @wraps(view)
    @login_required
    def wrapped(*args, **kwargs):
        if not current_user.is_admin:
            abort(403)
        return view(*args, **kwargs)

    return wrapped


def staff_required(view):
    @wraps(view)
    @login_required
    def wrapped(*args, **kwargs):
        if not (current_user.is_admin or current_user.is_manager):
            abort(403)
        return view(*args, **kwargs)

    return wrapped


def form_error(form, exc: ServiceError) -> None:
    """Show a service error next to its field, or at the top of the form."""
    field = getattr(form, exc.field, None) if exc.field else None
    if field is not None:
        field.errors = [*field.errors, str(exc.message)]
    else:
        flash(str(exc.message), "error")


def _or_404(getter, object_id: int):
    """Fetch through a service, which checks that the current user may see it."""
    try:
        return getter(current_user, object_id)
    except NotFound:
        abort(404)


def _visible_user_or_404(user_id: int) -> User:
    return _or_404(services.get_user_for, user_id)


def _toggle_active(set_active, obj, back_to: str):
    """Deactivate or reactivate ``obj`` (the form's ``active`` says which), one commit."""
    if not ConfirmForm().validate_on_submit():
        abort(400)
    active = request.form.get("active") == "1"
    try:
        set_active(current_user, obj, active)
    except ServiceError as exc:
        db.session.rollback()
        flash(str(exc.message), "error")
    else:
        db.session.commit()
        flash(_("Reactivated.") if active else _("Deactivated. Their history is kept."), "success")
    return redirect(back_to)


def _active_filter(value: str | None) -> bool | None:
    return {"active": True, "inactive": False}.get(value or "active")


def _page() -> int:
    try:
        return max(1, int(request.args.get("page", 1)))
    except ValueError:
        return 1


def _paginate(query):
    per_page = current_app.config["PAGE_SIZE"]
    return db.paginate(query, page=_page(), per_page=per_page, error_out=False)


# ----------------------------------------------------------------- session


@bp.get("/")
@login_required
def home():
    people = None
    if current_user.is_manager:
        people = db.session.scalar(
            select(func.count()).select_from(
                services.reporting_line_ids(current_user.id).subquery()
            )
        )
    return render_template("org/home.html", reporting_line_count=people)


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_rate_limit, methods=["POST"])
@limiter.limit("20 per hour", methods=["POST"], key_func=_email_key)
def login():
    if current_user.is_authenticated:
        return redirect(url_for("org.home"))
    form = LoginForm()
    if form.validate_on_submit():
        user = services.authenticate(form.email.data, form.password.data)
        if user is None:
            db.session.commit()
            flash(_("The email or password is not correct."), "error")
        else:
            login_user(user, remember=form.remember.data)
            db.session.commit()
            target = safe_next_url(request.args.get("next")) or url_for("org.home")
            if user.must_change_password:
                target = url_for("org.change_password")
            return redirect(target)
    return render_template("org/login.html", form=form)


@bp.post("/logout")
@login_required
def logout():
    logout_user()
    flash(_("You have been logged out."), "info")
    return redirect(url_for("org.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password():
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            services.change_password(
                current_user, form.current_password.data, form.new_password.data
            )
        except ServiceError as exc:
            db.session.rollback()
            form_error(form, exc)
        else:
            # The epoch changed: log in again with the new session id.
            # Keep "remember me" on this device: reissue its cookie with the new epoch.
            cookie = current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token")
            login_user(
                current_user._get_current_object(),
                remember=cookie in request.cookies,
                fresh=True,
            )
            db.session.commit()
            flash(_("Your password has been changed."), "success")
            return redirect(url_for("org.home"))
    return render_template("org/change_password.html", form=form)


# ----------------------------------------------------------------- people


def _team_choices(include_empty=True):
    teams = db.session.scalars(select(Team).order_by(func.lower(Team.name))).all()
    choices = [(t.id, t.name + ("" if t.active else f" ({_('inactive')})")) for t in teams]
    return ([(None, "—")] if include_empty else []) + choices


def _supervisor_choices(exclude_id=None, keep_id=None):
    """Active people (anyone may lead others), plus the current supervisor even if
    deactivated, so editing someone never silently drops their reporting line."""
    users = db.session.execute(
        select(User.id, User.display_name, User.email, User.active)
        .where(or_(User.active.is_(True), User.id == keep_id))
        .order_by(func.lower(User.display_name))
    ).all()
    return [(None, "—")] + [
        (uid, f"{name} <{email}>" + ("" if active else f" ({_('inactive')})"))
        for uid, name, email, active in users
        if uid != exclude_id
    ]


@bp.get("/people")
@staff_required
def users():
    q = request.args.get("q", "").strip()
    role = request.args.get("role") or None
    team_id = request.args.get("team", type=int)
    status = request.args.get("status", "active")
    query = services.search_users(
        current_user, q=q, role=role, team_id=team_id, active=_active_filter(status)
    )
    return render_template(
        "org/users.html",
        pagination=_paginate(query),
        q=q,
        role=role,
        team_id=team_id,
        status=status,
        roles=ROLES,
        teams=_team_choices(include_empty=False),
    )


@bp.get("/people/<int:user_id>")
@login_required
def user_detail(user_id: int):
    user = _visible_user_or_404(user_id)
    reports = db.session.scalars(
        services.visible_users(current_user)
        .where(User.supervisor_id == user.id)
        .order_by(func.lower(User.display_name))
    ).all()
    return render_template(
        "org/user_detail.html", user=user, reports=reports, confirm=ConfirmForm()
    )


@bp.route("/people/new", methods=["GET", "POST"])
@admin_required
def user_new():
    form = UserForm()
    form.team_id.choices = _team_choices()
    form.supervisor_id.choices = _supervisor_choices()
    if form.validate_on_submit():
        try:
            user, temporary = services.create_user(
                current_user,
                email=form.email.data,
                display_name=form.display_name.data,
                role=form.role.data,
                team_id=form.team_id.data,
                supervisor_id=form.supervisor_id.data,
                locale=form.locale.data or None,
            )
        except ServiceError as exc:
            db.session.rollback()
            form_error(form, exc)
        else:
            db.session.commit()
            return render_template("org/temporary_password.html", user=user, password=temporary)
    return render_template("org/user_form.html", form=form, user=None)


@bp.route("/people/<int:user_id>/edit", methods=["GET", "POST"])
@admin_required
def user_edit(user_id: int):
    user = _visible_user_or_404(user_id)
    form = UserForm(obj=user)
    form.team_id.choices = _team_choices()
    form.supervisor_id.choices = _supervisor_choices(exclude_id=user.id, keep_id=user.supervisor_id)
    if request.method == "GET":
        form.locale.data = user.locale or ""
    if form.validate_on_submit():
        try:
            services.update_user(
                current_user,
                user,
                email=form.email.data,
                display_name=form.display_name.data,
                role=form.role.data,
                team_id=form.team_id.data,
                supervisor_id=form.supervisor_id.data,
                locale=form.locale.data or None,
            )
        except ServiceError as exc:
            db.session.rollback()
            form_error(form, exc)
        else:
            db.session.commit()
            flash(_("Saved."), "success")
            return redirect(url_for("org.user_detail", user_id=user.id))
    return render_template("org/user_form.html", form=form, user=user)


@bp.post("/people/<int:user_id>/active")
@admin_required
def user_set_active(user_id: int):
    user = _visible_user_or_404(user_id)
    back_to = url_for("org.user_detail", user_id=user.id)
    return _toggle_active(services.set_user_active, user, back_to)


@bp.post("/people/<int:user_id>/reset-password")
@admin_required
def user_reset_password(user_id: int):
    user = _visible_user_or_404(user_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    temporary = services.reset_password(current_user, user)
    db.session.commit()
    return render_template("org/temporary_password.html", user=user, password=temporary)


# ----------------------------------------------------------------- teams


@bp.get("/teams")
@staff_required
def teams():
    q = request.args.get("q", "").strip()
    status = request.args.get("status", "active")
    query = services.search_teams(current_user, q=q, active=_active_filter(status))
    counts = dict(
        db.session.execute(
            select(User.team_id, func.count())
            .where(User.active.is_(True), User.team_id.is_not(None))
            .group_by(User.team_id)
        ).all()
    )
    return render_template(
        "org/teams.html", pagination=_paginate(query), q=q, status=status, counts=counts,
        confirm=ConfirmForm(),
    )


def _vendor_choices():
    vendors = db.session.scalars(select(Vendor).order_by(func.lower(Vendor.name))).all()
    return [(None, "—")] + [(v.id, v.name) for v in vendors]


@bp.route("/teams/new", methods=["GET", "POST"])
@bp.route("/teams/<int:team_id>/edit", methods=["GET", "POST"])
@admin_required
def team_form(team_id: int | None = None):
    team = _or_404(services.get_team, team_id) if team_id else None
    form = TeamForm(obj=team)
    form.vendor_id.choices = _vendor_choices()
    if form.validate_on_submit():
        try:
            if team is None:
                team = services.create_team(
                    current_user, name=form.name.data, vendor_id=form.vendor_id.data
                )
            else:
                services.update_team(
                    current_user, team, name=form.name.data, vendor_id=form.vendor_id.data
                )
        except ServiceError as exc:
            db.session.rollback()
            form_error(form, exc)
        else:
            db.session.commit()
            flash(_("Saved."), "success")
            return redirect(url_for("org.teams"))
    return render_template("org/team_form.html", form=form, team=team)


@bp.post("/teams/<int:team_id>/active")
@admin_required
def team_set_active(team_id: int):
    team = _or_404(services.get_team, team_id)
    return _toggle_active(services.set_team_active, team, url_for("org.teams"))


# ----------------------------------------------------------------- vendors


@bp.get("/vendors")
@staff_required
def vendors():
    q = request.args.get("q", "").strip()
    status = request.args.get("status", "active")
    query = services.search_vendors(current_user, q=q, active=_active_filter(status))
    return render_template(
        "org/vendors.html", pagination=_paginate(query), q=q, status=status,
        confirm=ConfirmForm(),
    )


@bp.route("/vendors/new", methods=["GET", "POST"])
@bp.route("/vendors/<int:vendor_id>/edit", methods=["GET", "POST"])
@admin_required
def vendor_form(vendor_id: int | None = None):
    vendor = _or_404(services.get_vendor, vendor_id) if vendor_id else None
    form = VendorForm(obj=vendor)
    if form.validate_on_submit():
        fields = {
            "name": form.name.data,
            "contact_name": form.contact_name.data,
            "contact_email": form.contact_email.data,
            "contract_start": form.contract_start.data,
            "contract_end": form.contract_end.data,
        }
        try:
            if vendor is None:
                services.create_vendor(current_user, **fields)
            else:
                services.update_vendor(current_user, vendor, **fields)
        except ServiceError as exc:
            db.session.rollback()
            form_error(form, exc)
        else:
            db.session.commit()
            flash(_("Saved."), "success")
            return redirect(url_for("org.vendors"))
    return render_template("org/vendor_form.html", form=form, vendor=vendor)


@bp.post("/vendors/<int:vendor_id>/active")
@admin_required
def vendor_set_active(vendor_id: int):
    vendor = _or_404(services.get_vendor, vendor_id)
    return _toggle_active(services.set_vendor_active, vendor, url_for("org.vendors"))


@bp.errorhandler(PermissionDenied)
def _permission_denied(exc):
    abort(403)
