"""JSON in and out for people, teams and vendors (marshmallow schemas for the API).

Schemas check types and shapes and document the API; the rules (unique
emails and names, reporting-line loops, contract dates…) stay in
:mod:`org.services`, which the API calls.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from org.models import ROLES
from org.services import LOCALES


def _id(description: str, example: int | None = 1, **kw) -> fields.Integer:
    return fields.Integer(
        strict=True, metadata={"description": description, "example": example}, **kw
    )


# ----------------------------------------------------------------- people


class UserSchema(Schema):
    """A person as the API shows them (never their password hash)."""

    id = fields.Integer(dump_only=True, metadata={"example": 42})
    email = fields.String(metadata={"example": "li.na@example.com"})
    display_name = fields.String(metadata={"example": "李娜 Li Na"})
    role = fields.String(metadata={"enum": list(ROLES), "example": "member"})
    team_id = fields.Integer(allow_none=True, metadata={"example": 3})
    supervisor_id = fields.Integer(allow_none=True, metadata={"example": 7})
    locale = fields.String(allow_none=True, metadata={"enum": list(LOCALES), "example": "zh_CN"})
    active = fields.Boolean(metadata={"example": True})
    created_at = fields.DateTime(metadata={"example": "2025-01-31T08:00:00+00:00"})


class UserUpdateSchema(Schema):
    """Fields to change on a person; fields left out keep their value."""

    email = fields.Email(
        validate=validate.Length(max=254), metadata={"example": "li.na@example.com"}
    )
    display_name = fields.String(
        validate=validate.Length(min=1, max=200), metadata={"example": "李娜 Li Na"}
    )
    role = fields.String(validate=validate.OneOf(ROLES), metadata={"example": "member"})
    team_id = _id("The person's team; null for none.", 3, allow_none=True)
    supervisor_id = _id("Their supervisor (a person id); null for none.", 7, allow_none=True)
    locale = fields.String(
        allow_none=True,
        validate=validate.OneOf(LOCALES),
        metadata={
            "description": "Interface language; null follows the browser.",
            "example": "zh_CN",
        },
    )


class UserCreateSchema(UserUpdateSchema):
    """A new person. No password travels through the API: an administrator gives
    them a temporary one with "Reset password" on the person's page."""

    email = fields.Email(
        required=True, validate=validate.Length(max=254), metadata={"example": "li.na@example.com"}
    )
    display_name = fields.String(
        required=True, validate=validate.Length(min=1, max=200), metadata={"example": "李娜 Li Na"}
    )
    role = fields.String(
        load_default="member", validate=validate.OneOf(ROLES), metadata={"example": "member"}
    )


class UserQuerySchema(Schema):
    q = fields.String(metadata={"description": "Part of the name or email (case-insensitive)."})
    role = fields.String(validate=validate.OneOf(ROLES))
    team_id = fields.Integer(metadata={"description": "Only members of this team."})
    active = fields.Boolean(
        metadata={"description": "true: active people only; false: deactivated only; "
                  "left out: everyone."}
    )


# ----------------------------------------------------------------- teams


class TeamSchema(Schema):
    id = fields.Integer(dump_only=True, metadata={"example": 3})
    name = fields.String(metadata={"example": "Service desk 服务台"})
    vendor_id = fields.Integer(
        allow_none=True,
        metadata={"description": "The vendor running the team; null for in-house.", "example": 1},
    )
    active = fields.Boolean(metadata={"example": True})
    created_at = fields.DateTime(metadata={"example": "2025-01-31T08:00:00+00:00"})


class TeamUpdateSchema(Schema):
    name = fields.String(
        validate=validate.Length(min=1, max=200), metadata={"example": "Service desk 服务台"}
    )
    vendor_id = _id("The vendor running the team; null for in-house.", 1, allow_none=True)


class TeamCreateSchema(TeamUpdateSchema):
    name = fields.String(
        required=True,
        validate=validate.Length(min=1, max=200),
        metadata={"example": "Service desk 服务台"},
    )


class ActiveQuerySchema(Schema):
    q = fields.String(metadata={"description": "Part of the name (case-insensitive)."})
    active = fields.Boolean(
        metadata={"description": "true: active only; false: deactivated only; left out: all."}
    )


# ----------------------------------------------------------------- vendors


class VendorSchema(Schema):
    id = fields.Integer(dump_only=True, metadata={"example": 1})
    name = fields.String(metadata={"example": "Acme Outsourcing 艾克米外包"})
    contact_name = fields.String(allow_none=True, metadata={"example": "Wang Wei"})
    contact_email = fields.String(allow_none=True, metadata={"example": "wang.wei@acme.example"})
    contract_start = fields.Date(allow_none=True, metadata={"example": "2025-01-01"})
    contract_end = fields.Date(allow_none=True, metadata={"example": "2025-12-31"})
    active = fields.Boolean(metadata={"example": True})
    created_at = fields.DateTime(metadata={"example": "2025-01-31T08:00:00+00:00"})


class VendorUpdateSchema(Schema):
    name = fields.String(
        validate=validate.Length(min=1, max=200),
        metadata={"example": "Acme Outsourcing 艾克米外包"},
    )
    contact_name = fields.String(
        allow_none=True, validate=validate.Length(max=200), metadata={"example": "Wang Wei"}
    )
    contact_email = fields.Email(
        allow_none=True,
        validate=validate.Length(max=254),
        metadata={"example": "wang.wei@acme.example"},
    )
    contract_start = fields.Date(allow_none=True, metadata={"example": "2025-01-01"})
    contract_end = fields.Date(
        allow_none=True,
        metadata={"description": "On or after contract_start.", "example": "2025-12-31"},
    )


class VendorCreateSchema(VendorUpdateSchema):
    name = fields.String(
        required=True,
        validate=validate.Length(min=1, max=200),
        metadata={"example": "Acme Outsourcing 艾克米外包"},
    )
