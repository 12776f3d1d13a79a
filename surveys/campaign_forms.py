"""Forms of the campaign admin pages.

Times are typed in ``datetime-local`` inputs as wall-clock times in the time zone
chosen beside them, and stored in UTC (:meth:`CampaignForm.window`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    IntegerField,
    RadioField,
    SelectField,
    StringField,
    SubmitField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from core.i18n import lazy_gettext as _l
from surveys import campaigns

DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]

# Shown first in the time zone list: where Orbit's customers usually are.
COMMON_ZONES = (
    "Asia/Shanghai",
    "Asia/Hong_Kong",
    "Asia/Taipei",
    "Asia/Singapore",
    "Asia/Tokyo",
    "Asia/Kolkata",
    "Europe/London",
    "Europe/Berlin",
    "America/New_York",
    "America/Los_Angeles",
    "UTC",
)


@lru_cache(maxsize=1)
def _all_zones() -> tuple[str, ...]:
    skip = ("Etc/", "SystemV/")
    return tuple(sorted(z for z in available_timezones() if "/" in z and not z.startswith(skip)))


def _offset_label(name: str) -> str:
    offset = datetime.now(UTC).astimezone(ZoneInfo(name)).utcoffset()
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "−"
    hours, minutes = divmod(abs(minutes), 60)
    return f"{name.replace('_', ' ')} (UTC{sign}{hours:02d}:{minutes:02d})"


def timezone_choices():
    common = [(z, _offset_label(z)) for z in COMMON_ZONES]
    rest = [(z, _offset_label(z)) for z in _all_zones() if z not in COMMON_ZONES]
    return {_l("Common"): common, _l("All time zones"): rest}


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_to_utc(value: datetime | None, zone_name: str) -> datetime | None:
    """A naive wall-clock time in ``zone_name`` as an aware UTC datetime; ``ValueError``
    if that time does not exist there (skipped by a daylight-saving change)."""
    if value is None:
        return None
    tz = zone(zone_name)
    aware = value.replace(tzinfo=tz)
    utc = aware.astimezone(UTC)
    if utc.astimezone(tz).replace(tzinfo=None) != value:
        raise ValueError(value)
    return utc


def utc_to_local(value: datetime | None, zone_name: str) -> datetime | None:
    """An aware datetime as a naive wall-clock time in ``zone_name`` (for the inputs)."""
    if value is None:
        return None
    return value.astimezone(zone(zone_name)).replace(tzinfo=None, second=0, microsecond=0)


def _locale_choices():
    return [
        ("", _l("The respondent's browser language")),
        ("zh_CN", "中文"),
        ("en", "English"),
    ]


def _audience_choices():
    return [
        ("public", _l("Public link and QR code — anyone with the link can answer")),
        ("personal", _l("Personal links — invited people, one response each")),
    ]


class CampaignForm(FlaskForm):
    """Every setting of a campaign. The route removes the questionnaire choice when
    editing, and the settings that are fixed once the campaign is launched."""

    questionnaire_id = SelectField(
        _l("Questionnaire"), coerce=int, validators=[InputRequired()], validate_choice=True
    )
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    audience = RadioField(_l("Audience"), choices=_audience_choices, default="public")
    timezone = SelectField(_l("Time zone of these times"), choices=timezone_choices)
    opens_at = DateTimeLocalField(
        _l("Opens (optional)"), format=DATETIME_FORMATS, validators=[Optional()]
    )
    closes_at = DateTimeLocalField(
        _l("Closes (optional)"), format=DATETIME_FORMATS, validators=[Optional()]
    )
    max_responses = IntegerField(
        _l("Maximum number of responses (optional)"),
        validators=[Optional(), NumberRange(min=1, max=campaigns.MAX_RESPONSES_LIMIT)],
    )
    # Rendered with groups (teams, vendors, people) by the template; the route checks it.
    subject = SelectField(
        _l("What the answers are about (optional)"), default="", validate_choice=False
    )
    default_locale = SelectField(_l("Language"), choices=_locale_choices, default="")
    anonymous = BooleanField(_l("Anonymous: never link a response to the person invited"))
    one_response_per_browser = BooleanField(
        _l("One response per browser"), default=True
    )
    hidden_fields = StringField(
        _l("Hidden fields (optional)"), validators=[Optional(), Length(max=500)]
    )
    min_group_size = IntegerField(
        _l("Smallest group shown in results"),
        default=5,
        validators=[InputRequired(), NumberRange(min=1, max=campaigns.MAX_GROUP_SIZE)],
    )
    max_reminders = IntegerField(
        _l("Reminders per person, at most"),
        default=2,
        validators=[InputRequired(), NumberRange(min=0, max=campaigns.MAX_REMINDERS_LIMIT)],
    )
    remind_days_before_close = IntegerField(
        _l("Remind automatically this many days before closing (optional)"),
        validators=[Optional(), NumberRange(min=1, max=campaigns.MAX_REMIND_DAYS)],
    )
    save = SubmitField(_l("Save as draft"))
    launch = SubmitField(_l("Save and launch"))

    def validate_timezone(self, field):
        from wtforms.validators import ValidationError

        if field.data not in _all_zones() and field.data not in COMMON_ZONES:
            raise ValidationError(_l("Choose a time zone from the list."))

    def window(self) -> tuple[datetime | None, datetime | None] | None:
        """Opening and closing times in UTC, or None (with errors on the fields) if a
        time does not exist in the chosen zone."""
        result = []
        ok = True
        for field in (self.opens_at, self.closes_at):
            if field is None:
                result.append(None)
                continue
            try:
                result.append(local_to_utc(field.data, self.timezone.data))
            except ValueError:
                field.errors = [
                    *field.errors,
                    _l("This time does not exist in that time zone (the clocks change)."),
                ]
                result.append(None)
                ok = False
        return tuple(result) if ok else None


class WebhookForm(FlaskForm):
    webhook_url = StringField(
        _l("Address notified when a response is completed"),
        validators=[Optional(), Length(max=campaigns.WEBHOOK_URL_MAX_LENGTH)],
    )
    submit = SubmitField(_l("Save the webhook"))
