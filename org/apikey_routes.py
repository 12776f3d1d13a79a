"""Admin pages for API keys: list, create (the key is shown once) and revoke."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, Length

from core.exceptions import NotFound, ServiceError
from core.extensions import db
from core.i18n import lazy_gettext as _l
from org import apikeys
from org.forms import ConfirmForm
from org.models import ApiScope
from org.routes import admin_required, form_error

bp = Blueprint("apikeys", __name__, url_prefix="/api-keys")


def _scope_choices():
    return [
        (ApiScope.READ.value, _l("Read only")),
        (ApiScope.WRITE.value, _l("Read and write")),
    ]


class ApiKeyForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    scope = SelectField(_l("Access"), choices=_scope_choices, default=ApiScope.READ.value)
    submit = SubmitField(_l("Create key"))


def _index(form: ApiKeyForm):
    keys = apikeys.list_api_keys(current_user)
    return render_template("org/api_keys.html", keys=keys, form=form, confirm=ConfirmForm())


@bp.get("/")
@admin_required
def index():
    return _index(ApiKeyForm())


@bp.post("/")
@admin_required
def create():
    form = ApiKeyForm()
    if form.validate_on_submit():
        try:
            key, plaintext = apikeys.create_api_key(current_user, form.name.data, form.scope.data)
        except ServiceError as exc:
            db.session.rollback()
            form_error(form, exc)
        else:
            db.session.commit()
            return render_template("org/api_key_created.html", key=key, plaintext=plaintext)
    return _index(form)


@bp.post("/<int:key_id>/revoke")
@admin_required
def revoke(key_id: int):
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        key = apikeys.get_api_key(current_user, key_id)
    except NotFound:
        abort(404)
    apikeys.revoke_api_key(current_user, key)
    db.session.commit()
    flash(_("The key “%(name)s” is revoked: it no longer works.", name=key.name), "success")
    return redirect(url_for("apikeys.index"))
