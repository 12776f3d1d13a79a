"""Forms of the questionnaire builder.

They check the shape of the input (lengths, numbers); the rules of the format —
key patterns, duplicates, at least one language — are ``surveys.builder``'s, which
names the field at fault. Choices that depend on the draft (dimensions, questions
to test, pages) are filled in by the routes and not checked here for the same reason.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DecimalField,
    FieldList,
    Form,
    FormField,
    IntegerField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import AnyOf, Length, NumberRange, Optional

from surveys.builder import CONDITION_OPS, DIMENSION_KINDS, QUESTION_TYPES

SHORT = 300
LONG = 20000


def type_label(question_type: str):
    return TYPE_LABELS.get(question_type, question_type)


TYPE_LABELS = {
    "likert": _l("Rating scale (Likert)"),
    "matrix": _l("Matrix (items on one scale)"),
    "nps": _l("NPS (0–10)"),
    "csat": _l("CSAT (1–5)"),
    "ces": _l("CES (1–7)"),
    "single_choice": _l("Single choice"),
    "multiple_choice": _l("Multiple choice"),
    "dropdown": _l("Dropdown"),
    "ranking": _l("Ranking"),
    "short_text": _l("Short text"),
    "long_text": _l("Long text"),
    "number": _l("Number"),
    "date": _l("Date"),
    "text_block": _l("Text block (no answer)"),
}
OP_LABELS = {
    "equals": _l("equals"),
    "not_equals": _l("does not equal"),
    "in": _l("is one of"),
    "not_in": _l("is none of"),
    "greater": _l("is greater than"),
    "less": _l("is less than"),
    "answered": _l("is answered (true / false)"),
}
KIND_LABELS = {"competency": _l("Competency"), "kpi": _l("KPI")}


def _key_field(label=None):
    return StringField(label or _l("Key"), validators=[Optional(), Length(max=64)])


def _text(label, long=False):
    field = TextAreaField if long else StringField
    return field(label, validators=[Optional(), Length(max=LONG if long else SHORT * 10)])


def _weight_field():
    return DecimalField(
        _l("Weight"),
        validators=[Optional()],
        places=None,
        render_kw={"step": "any", "min": "0", "placeholder": "1"},
    )


class MoveForm(FlaskForm):
    """Up or down: the value of the button pressed."""

    direction = StringField(validators=[AnyOf(("up", "down"))])


class SettingsForm(FlaskForm):
    title_en = _text(_l("Title (English)"))
    title_zh = _text(_l("Title (Chinese)"))
    description_en = _text(_l("Description (English)"), long=True)
    description_zh = _text(_l("Description (Chinese)"), long=True)
    default_locale = SelectField(
        _l("Written in"),
        choices=[("", _l("(not set)")), ("zh_CN", "中文"), ("en", "English")],
        validators=[Optional()],
    )


class DimensionForm(FlaskForm):
    key = _key_field()
    name_en = _text(_l("Name (English)"))
    name_zh = _text(_l("Name (Chinese)"))
    description_en = _text(_l("Description (English)"), long=True)
    description_zh = _text(_l("Description (Chinese)"), long=True)
    kind = SelectField(
        _l("Kind"),
        choices=[("", _l("(not set)"))] + [(k, KIND_LABELS[k]) for k in DIMENSION_KINDS],
        validators=[Optional()],
    )
    weight = _weight_field()


class PageForm(FlaskForm):
    key = _key_field()
    title_en = _text(_l("Title (English)"))
    title_zh = _text(_l("Title (Chinese)"))
    description_en = _text(_l("Description (English)"), long=True)
    description_zh = _text(_l("Description (Chinese)"), long=True)


class DeletePageForm(FlaskForm):
    with_questions = BooleanField(_l("Also delete the questions on this page"))


class NewQuestionForm(FlaskForm):
    type = SelectField(
        _l("Type"), choices=[(t, TYPE_LABELS[t]) for t in QUESTION_TYPES], default="likert"
    )
    text_en = _text(_l("Question (English)"), long=True)
    text_zh = _text(_l("Question (Chinese)"), long=True)
    key = _key_field(_l("Key (optional)"))


class QuestionForm(FlaskForm):
    key = _key_field()
    text_en = _text(_l("Question (English)"), long=True)
    text_zh = _text(_l("Question (Chinese)"), long=True)
    help_en = _text(_l("Help (English)"), long=True)
    help_zh = _text(_l("Help (Chinese)"), long=True)
    required = BooleanField(_l("An answer is required"))
    dimension = SelectField(_l("Dimension"), choices=[], validate_choice=False)
    weight = _weight_field()
    reverse = BooleanField(_l("Reverse-keyed (negatively worded)"))
    max_length = IntegerField(
        _l("Maximum length (characters)"), validators=[Optional()], render_kw={"min": 1}
    )
    minimum = StringField(_l("Minimum"), validators=[Optional(), Length(max=40)])
    maximum = StringField(_l("Maximum"), validators=[Optional(), Length(max=40)])
    integer = BooleanField(_l("Whole numbers only"))
    min_selections = IntegerField(
        _l("At least this many selections"), validators=[Optional()], render_kw={"min": 0}
    )
    max_selections = IntegerField(
        _l("At most this many selections"), validators=[Optional()], render_kw={"min": 1}
    )


class TypeForm(FlaskForm):
    type = SelectField(_l("Type"), choices=[(t, TYPE_LABELS[t]) for t in QUESTION_TYPES])


class MoveToPageForm(FlaskForm):
    page = SelectField(_l("Move to page"), choices=[], validate_choice=False)


class OptionForm(FlaskForm):
    value = _key_field(_l("Value"))
    label_en = _text(_l("Label (English)"))
    label_zh = _text(_l("Label (Chinese)"))


class ItemForm(FlaskForm):
    key = _key_field()
    text_en = _text(_l("Item (English)"))
    text_zh = _text(_l("Item (Chinese)"))
    dimension = SelectField(_l("Dimension"), choices=[], validate_choice=False)
    weight = _weight_field()
    reverse = BooleanField(_l("Reverse-keyed"))


class ScaleForm(FlaskForm):
    """Points, "not applicable", and an English and a Chinese label per point (0–11)."""

    points = IntegerField(
        _l("Number of points"),
        validators=[Optional(), NumberRange(min=2, max=11)],
        render_kw={"min": 2, "max": 11},
    )
    not_applicable = BooleanField(_l("Offer “Not applicable”"))

    def labels(self) -> dict[str, tuple[str, str]]:
        return {
            str(point): (
                self[f"label_{point}_en"].data or "",
                self[f"label_{point}_zh"].data or "",
            )
            for point in range(12)
        }


for _point in range(12):
    setattr(ScaleForm, f"label_{_point}_en",
            _text(_l("Label of point %(n)s (English)", n=_point)))
    setattr(ScaleForm, f"label_{_point}_zh",
            _text(_l("Label of point %(n)s (Chinese)", n=_point)))


class ConditionRowForm(Form):
    question = SelectField(_l("Question"), choices=[], validate_choice=False)
    op = SelectField(
        _l("Comparison"),
        choices=[(op, OP_LABELS[op]) for op in CONDITION_OPS],
        validate_choice=False,
    )
    value = StringField(_l("Value"), validators=[Optional(), Length(max=2000)])


class ConditionForm(FlaskForm):
    combinator = RadioField(
        _l("Show when"),
        choices=[("all", _l("all of these hold")), ("any", _l("any of these holds"))],
        default="all",
    )
    rows = FieldList(FormField(ConditionRowForm), min_entries=1, max_entries=50)


class ConditionYamlForm(FlaskForm):
    yaml = TextAreaField(
        _l("Condition in YAML"),
        validators=[Optional(), Length(max=50000)],
        render_kw={"rows": 12, "spellcheck": "false", "autocapitalize": "off"},
    )
