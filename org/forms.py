"""Forms for login, passwords and the admin pages."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    PasswordField,
    SelectField,
    StringField,
    SubmitField,
)
from wtforms.validators import DataRequired, Email, Length, Optional

from core.i18n import lazy_gettext as _l
from org.models import ROLES


def _role_choices():
    labels = {"admin": _l("Administrator"), "manager": _l("Manager"), "member": _l("Member")}
    return [(r, labels[r]) for r in ROLES]


def _locale_choices():
    return [("", _l("Browser default")), ("zh_CN", "中文"), ("en", "English")]


def _coerce_optional_int(value):
    if value in (None, "", "None"):
        return None
    return int(value)


class LoginForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=256)])
    remember = BooleanField(_l("Remember me"))
    submit = SubmitField(_l("Log in"))


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField(_l("Current password"), validators=[DataRequired()])
    new_password = PasswordField(
        _l("New password"), validators=[DataRequired(), Length(min=10, max=256)]
    )
    confirm = PasswordField(_l("Repeat the new password"), validators=[DataRequired()])
    submit = SubmitField(_l("Change password"))

    def validate_confirm(self, field):
        from wtforms.validators import ValidationError

        if field.data != self.new_password.data:
            raise ValidationError(_l("The two passwords are not the same."))


class UserForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), Email(), Length(max=254)])
    display_name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    role = SelectField(_l("Role"), choices=_role_choices, default="member")
    team_id = SelectField(_l("Team"), coerce=_coerce_optional_int, validate_choice=True)
    supervisor_id = SelectField(_l("Supervisor"), coerce=_coerce_optional_int)
    locale = SelectField(_l("Language"), choices=_locale_choices, default="")
    submit = SubmitField(_l("Save"))


class TeamForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    vendor_id = SelectField(_l("Vendor"), coerce=_coerce_optional_int)
    submit = SubmitField(_l("Save"))


class VendorForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    contact_name = StringField(_l("Contact name"), validators=[Optional(), Length(max=200)])
    contact_email = EmailField(
        _l("Contact email"), validators=[Optional(), Email(), Length(max=254)]
    )
    contract_start = DateField(_l("Contract start"), validators=[Optional()])
    contract_end = DateField(_l("Contract end"), validators=[Optional()])
    submit = SubmitField(_l("Save"))


class ConfirmForm(FlaskForm):
    """An empty form: just the CSRF token, for POST-only buttons."""

    submit = SubmitField(_l("Confirm"))
