"""Forms of the SLA pages."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import BooleanField, HiddenField, SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, Length, Optional

from core.i18n import lazy_gettext as _l


def direction_choices():
    return [("higher", _l("Higher is better")), ("lower", _l("Lower is better"))]


def aggregation_choices():
    return [
        ("mean", _l("Mean")),
        ("percentile", _l("Percentile")),
        ("rate", _l("Rate (percent of measurements meeting a threshold)")),
        ("sum", _l("Sum")),
    ]


def comparison_choices():
    return [("ge", _l("at least the threshold (≥)")), ("le", _l("at most the threshold (≤)"))]


def period_choices():
    return [
        ("monthly", _l("Monthly")),
        ("quarterly", _l("Quarterly")),
        ("half_yearly", _l("Half-yearly")),
        ("yearly", _l("Yearly")),
    ]


class MetricForm(FlaskForm):
    # Numbers are text fields: the service parses and reports them (one set of rules
    # for the page and the API).
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    unit = StringField(_l("Unit"), validators=[Optional(), Length(max=32)])
    direction = SelectField(_l("Direction"), choices=direction_choices, default="higher")
    target = StringField(_l("Target"), validators=[DataRequired()])
    warning = StringField(_l("Warning threshold"), validators=[Optional()])
    aggregation = SelectField(_l("Aggregation over the period"), choices=aggregation_choices,
                              default="mean")
    percentile = StringField(_l("Percentile"), validators=[Optional()])
    rate_threshold = StringField(_l("Rate: threshold per measurement"), validators=[Optional()])
    rate_comparison = SelectField(_l("Rate: a measurement counts when its value is"),
                                  choices=comparison_choices, default="ge")
    period = SelectField(_l("Period"), choices=period_choices, default="monthly")
    active = BooleanField(_l("Active"), default=True)
    submit = SubmitField(_l("Save"))


class TemplateForm(FlaskForm):
    period = SelectField(_l("Period"), choices=period_choices, default="monthly")
    submit = SubmitField(_l("Add the standard SLA metrics"))


class UploadForm(FlaskForm):
    file = FileField(
        _l("File (CSV or Excel .xlsx)"),
        validators=[
            FileRequired(_l("Choose a CSV or Excel file.")),
            FileAllowed(["csv", "xlsx"], _l("Upload a .csv or .xlsx file.")),
        ],
        render_kw={"accept": ".csv,.xlsx,text/csv"},
    )
    submit = SubmitField(_l("Check the file"))


class ConfirmUploadForm(FlaskForm):
    token = HiddenField(validators=[DataRequired()])
    submit = SubmitField(_l("Record"))


class MeasurementForm(FlaskForm):
    measured_at = StringField(_l("Time"), validators=[DataRequired(), Length(max=40)])
    value = StringField(_l("Value"), validators=[DataRequired(), Length(max=40)])
    note = StringField(_l("Note"), validators=[Optional(), Length(max=1000)])
    submit = SubmitField(_l("Add the measurement"))
