"""Forms of the invitation pages: paste, from the org chart, email templates. (Uploads
use the org-chart import's upload and confirmation forms.)"""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    HiddenField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length
from wtforms.widgets import CheckboxInput, ListWidget

from core.i18n import lazy_gettext as _l
from surveys import mail


class PasteForm(FlaskForm):
    text = TextAreaField(
        _l("Email addresses"),
        validators=[DataRequired(_l("Enter at least one email address.")),
                    Length(max=2_000_000)],
        render_kw={"rows": 6, "spellcheck": "false", "autocomplete": "off"},
    )
    submit = SubmitField(_l("Invite"))


def _optional_int(value):
    if value in (None, "", "None"):
        return None
    return int(value)


class OrgForm(FlaskForm):
    teams = SelectMultipleField(
        _l("Teams"), coerce=int, option_widget=CheckboxInput(),
        widget=ListWidget(prefix_label=False), validate_choice=True,
    )
    manager_id = SelectField(_l("Everyone reporting to"), coerce=_optional_int)
    everyone = BooleanField(_l("Everyone in the organisation"))
    submit = SubmitField(_l("Invite these people"))


class TemplateForm(FlaskForm):
    kind = HiddenField()
    language = HiddenField()
    subject = StringField(
        _l("Subject"), validators=[DataRequired(), Length(max=mail.MAX_SUBJECT)]
    )
    body = TextAreaField(
        _l("Message"), validators=[DataRequired(), Length(max=mail.MAX_BODY)],
        render_kw={"rows": 14},
    )
    preview = SubmitField(_l("Preview"))
    save = SubmitField(_l("Save"))
