"""Forms of the questionnaire admin pages."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField
from wtforms import DateTimeLocalField, IntegerField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional, Regexp

from core.i18n import lazy_gettext as _l

KEY_PATTERN = r"^[a-z][a-z0-9_-]{0,63}$"


class ImportForm(FlaskForm):
    file = FileField(
        _l("Questionnaire file (YAML or JSON)"),
        validators=[
            FileAllowed(["yaml", "yml", "json"], _l("Upload a .yaml, .yml or .json file."))
        ],
    )
    text = TextAreaField(_l("…or paste the document"), validators=[Length(max=1_000_000)])
    submit = SubmitField(_l("Import"))


class NewQuestionnaireForm(FlaskForm):
    key = StringField(
        _l("Key"),
        validators=[
            DataRequired(),
            Regexp(KEY_PATTERN, message=_l("Use a-z, 0-9, - and _, starting with a letter.")),
        ],
    )
    title_en = StringField(_l("Title (English)"), validators=[Optional(), Length(max=300)])
    title_zh = StringField(_l("Title (Chinese)"), validators=[Optional(), Length(max=300)])
    submit = SubmitField(_l("Create"))

    def validate(self, extra_validators=None):
        ok = super().validate(extra_validators)
        if ok and not (self.title_en.data or "").strip() and not (self.title_zh.data or "").strip():
            self.title_en.errors.append(_l("Give a title in at least one language."))
            return False
        return ok


class CampaignForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    opens_at = DateTimeLocalField(
        _l("Opens at (optional)"), format="%Y-%m-%dT%H:%M", validators=[Optional()]
    )
    closes_at = DateTimeLocalField(
        _l("Closes at (optional)"), format="%Y-%m-%dT%H:%M", validators=[Optional()]
    )
    max_responses = IntegerField(
        _l("Maximum number of responses (optional)"),
        validators=[Optional(), NumberRange(min=1, max=10_000_000)],
    )
    submit = SubmitField(_l("Create link"))
