"""Forms of the scorecard and evaluation pages."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from core.i18n import lazy_gettext as _l
from evaluations.scorecards import DIRECTION_LABELS, FAMILY_LABELS, MEASURE_LABELS, SOURCE_LABELS

BLANK_KPI_ROWS = 3


def family_choices():
    return [(k.value, label) for k, label in FAMILY_LABELS.items()]


def source_choices():
    return [(k.value, label) for k, label in SOURCE_LABELS.items()]


def measure_choices():
    return [("", _l("— (survey KPIs only)"))] + [(k.value, label)
                                                  for k, label in MEASURE_LABELS.items()]


def direction_choices():
    return [(k.value, label) for k, label in DIRECTION_LABELS.items()]


class ScorecardForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=2000)])
    min_responses = StringField(_l("Minimum responses for survey KPIs"),
                                validators=[DataRequired(), Length(max=10)], default="30")
    submit = SubmitField(_l("Save"))


class DefaultScorecardForm(FlaskForm):
    submit = SubmitField(_l("Create the standard scorecard"))


class KpiRowForm(Form):
    """One KPI row; numbers are text (the service parses them and reports by row)."""

    id = HiddenField()
    remove = BooleanField(_l("Remove"))
    family = SelectField(_l("Family"), choices=family_choices)
    name = StringField(_l("KPI"), validators=[Optional(), Length(max=200)])
    weight = StringField(_l("Weight"), validators=[Optional(), Length(max=20)])
    target = StringField(_l("Target"), validators=[Optional(), Length(max=30)])
    floor = StringField(_l("Floor"), validators=[Optional(), Length(max=30)])
    direction = SelectField(_l("Direction"), choices=direction_choices, default="higher")
    source_kind = SelectField(_l("Source"), choices=source_choices, default="manual")
    sla_metric_name = StringField(_l("SLA metric name"), validators=[Optional(), Length(max=200)])
    survey_measure = SelectField(_l("Survey measure"), choices=measure_choices, default="")
    dimension_key = StringField(_l("Dimension key"), validators=[Optional(), Length(max=64)])
    questionnaire_id = SelectField(_l("Questionnaire"), choices=[], validate_choice=False)

    def is_blank(self) -> bool:
        return not self.id.data and not any(
            (getattr(self, name).data or "").strip()
            for name in ("name", "weight", "target", "floor", "sla_metric_name",
                         "dimension_key"))


class KpisForm(FlaskForm):
    kpis = FieldList(FormField(KpiRowForm), min_entries=0, max_entries=60)
    submit = SubmitField(_l("Save the KPIs"))


class ComputeForm(FlaskForm):
    template_id = SelectField(_l("Scorecard"), coerce=int, choices=[],
                              validators=[InputRequired()])
    period = StringField(_l("Period"), validators=[DataRequired(), Length(max=16)])
    submit = SubmitField(_l("Compute"))


class ManualScoreForm(FlaskForm):
    score = StringField(_l("Score (0–100)"), validators=[DataRequired(), Length(max=20)])
    comment = TextAreaField(_l("Comment"), validators=[DataRequired(), Length(max=2000)])
    submit = SubmitField(_l("Save the score"))


class AdjustmentForm(FlaskForm):
    points = StringField(_l("Points (− to take off)"),
                         validators=[DataRequired(), Length(max=20)])
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(), Length(max=2000)])
    submit = SubmitField(_l("Add the adjustment"))


class FinaliseForm(FlaskForm):
    confirm = BooleanField(_l("I understand that a final evaluation can no longer be changed."),
                           validators=[DataRequired(_l("Tick the box to confirm."))])
    submit = SubmitField(_l("Finalise"))
