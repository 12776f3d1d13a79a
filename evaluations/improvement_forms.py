"""Forms of the improvement plan: adding an action to a failing KPI, updating one."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import DateField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from core.i18n import lazy_gettext as _l
from evaluations.improvements import STATUS_LABELS


class ActionForm(FlaskForm):
    description = TextAreaField(_l("Action"), validators=[DataRequired(), Length(max=4000)])
    owner_id = SelectField(_l("Owner"), choices=[], validate_choice=False)
    owner_name = StringField(_l("Owner's name (if not a user)"),
                             validators=[Optional(), Length(max=200)])
    due_date = DateField(_l("Due date"), validators=[DataRequired()])


class ActionUpdateForm(FlaskForm):
    status = SelectField(_l("Status"),
                         choices=[(k.value, label) for k, label in STATUS_LABELS.items()])
    evidence = TextAreaField(_l("Evidence"), validators=[Optional(), Length(max=8000)])
