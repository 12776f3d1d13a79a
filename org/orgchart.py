"""Org-chart import: read a CSV or XLSX file, plan every change, apply it whole or not at all.

The import runs in three steps, each usable on its own (HTML page, API, CLI):

1. :func:`parse_file` turns the uploaded bytes into a :class:`ParsedFile` — rows of
   text keyed by canonical column names, each with the row number the person sees
   in their spreadsheet (the header is row 1). Problems with the file as a whole
   (wrong type, empty, too large, too many rows, missing column) raise
   :class:`~core.exceptions.ServiceError`.
2. :func:`build_plan` checks every row against the file and the current database and
   returns an :class:`ImportPlan`: per row *create*, *update*, *unchanged* or
   *error* (with every message for that row), the teams and vendors that will be
   created, and counts. It writes nothing.
3. :func:`apply_import` writes a plan without errors and flushes; the caller commits.

Rules the page documents for administrators:

* People are matched by email, case-insensitively; a re-import updates them in place.
  People who are not in the file are left alone (never deactivated).
* A column that is absent leaves that field of existing people unchanged; a column
  that is present with an empty cell clears it (no team, no supervisor), except
  *role*, where an empty cell keeps the current role (new people: member).
* New people get **no password**: they cannot log in until an administrator resets
  their password (which hands out a temporary one that must be changed).
* Deactivated people in the file are updated but stay deactivated.
* The vendor column says whom the person's team belongs to; teams and vendors are
  matched by name, case-insensitively, and missing ones are created.

:class:`PendingImports` keeps a parsed file on the server between the preview and the
confirmation, so the browser only holds a random token.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import hashlib
import io
import json
import os
import re
import secrets
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, update

from core.exceptions import ServiceError
from core.extensions import db
from core.i18n import lazy_gettext as _l
from org import audit
from org.models import Role, Team, User, Vendor, normalise_email
from org.services import is_valid_email, require_admin

MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_ROWS = 20_000
# An .xlsx is a zip archive: refuse archives that unpack to something huge.
MAX_XLSX_UNPACKED_BYTES = 200 * 1024 * 1024
MAX_COLUMNS = 100
MAX_NAME_LENGTH = 200
MAX_EMAIL_LENGTH = 254
PENDING_TTL_SECONDS = 3600

COLUMNS = ("email", "name", "role", "team", "vendor", "supervisor_email")
REQUIRED_COLUMNS = ("email", "name")
CHINESE_HEADERS = {
    "email": "邮箱",
    "name": "姓名",
    "role": "角色",
    "team": "团队",
    "vendor": "供应商",
    "supervisor_email": "上级邮箱",
}
_HEADER_ALIASES = {
    "email": ("email", "e_mail", "email_address", "邮箱", "电子邮箱", "电子邮件", "邮件"),
    "name": ("name", "display_name", "full_name", "姓名", "名字"),
    "role": ("role", "角色"),
    "team": ("team", "团队"),
    "vendor": ("vendor", "supplier", "供应商"),
    "supervisor_email": (
        "supervisor_email",
        "supervisor",
        "manager_email",
        "上级邮箱",
        "上级",
        "上级电子邮箱",
    ),
}
HEADER_ALIASES = {alias: column for column, aliases in _HEADER_ALIASES.items() for alias in aliases}

ROLE_ALIASES = {
    "admin": Role.ADMIN.value,
    "administrator": Role.ADMIN.value,
    "管理员": Role.ADMIN.value,
    "manager": Role.MANAGER.value,
    "经理": Role.MANAGER.value,
    "member": Role.MEMBER.value,
    "成员": Role.MEMBER.value,
}

CREATE = "create"
UPDATE = "update"
UNCHANGED = "unchanged"
ERROR = "error"

_XLSX_SIGNATURE = b"PK\x03\x04"
_DELIMITERS = (",", ";", "\t")
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")
_IN_CHUNK = 500  # keeps IN (...) lists well under every database's parameter limit


def _file_error(message) -> ServiceError:
    return ServiceError(message, field="file")


# ----------------------------------------------------------------- parsing


@dataclass
class ParsedRow:
    """One data row: canonical column -> trimmed text ("" for an empty cell)."""

    row: int
    values: dict[str, str]


@dataclass
class ParsedFile:
    filename: str
    columns: tuple[str, ...]
    ignored_columns: tuple[str, ...]
    rows: list[ParsedRow]

    def to_dict(self) -> dict[str, Any]:
        return {
            "filename": self.filename,
            "columns": list(self.columns),
            "ignored_columns": list(self.ignored_columns),
            "rows": [[r.row, r.values] for r in self.rows],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ParsedFile:
        return cls(
            filename=str(data["filename"]),
            columns=tuple(data["columns"]),
            ignored_columns=tuple(data["ignored_columns"]),
            rows=[ParsedRow(int(n), dict(values)) for n, values in data["rows"]],
        )


def read_records(filename: str, data: bytes) -> Iterator[tuple[int, list[str]]]:
    """The numbered rows of an uploaded CSV or XLSX file (any table upload: org
    charts, invitation lists…). CSV in UTF-8 with or without BOM, UTF-16 or GB18030,
    separated by commas, semicolons or tabs. Raises :class:`ServiceError` (on the
    ``file`` field) for a file that cannot be read."""
    suffix = Path(filename or "").suffix.lower()
    if suffix == ".xls":
        raise _file_error(
            _l("Old Excel files (.xls) cannot be read. Save the sheet as .xlsx or CSV.")
        )
    if suffix not in (".csv", ".xlsx"):
        raise _file_error(_l("Upload a .csv or .xlsx file."))
    if len(data) > MAX_FILE_BYTES:
        raise _file_error(
            _l("The file is too large (at most %(size)d MB).", size=MAX_FILE_BYTES // 2**20)
        )
    if not data.strip():
        raise _file_error(_l("The file is empty."))
    if data.startswith(_XLSX_SIGNATURE):
        return _xlsx_records(data)
    if suffix == ".xlsx":
        raise _file_error(_l("This is not a valid Excel (.xlsx) file."))
    return _csv_records(data)


def header_key(raw: str) -> str:
    """A column heading as a lookup key: trimmed, lower-cased, spaces and dashes as _."""
    return re.sub(r"[\s\-]+", "_", raw.strip().lstrip("\ufeff").strip().lower())


def parse_file(filename: str, data: bytes) -> ParsedFile:
    """Read an uploaded CSV or XLSX file; raise :class:`ServiceError` if it is unusable."""
    filename = Path(filename or "").name[:255]
    return _read_table(filename, read_records(filename, data))


def _decode(data: bytes) -> str:
    """UTF-8 (with or without BOM), UTF-16 (Excel's "Unicode text"), else GB18030."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            pass
    else:
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError:
            pass
        sample = data[:4000]
        if sample.count(0) > len(sample) // 4:  # UTF-16 without a BOM
            for encoding in ("utf-16-le", "utf-16-be"):
                try:
                    return data.decode(encoding)
                except UnicodeDecodeError:
                    continue
        try:
            return data.decode("gb18030")
        except UnicodeDecodeError:
            pass
    raise _file_error(
        _l("The text encoding of this file is not recognised. Save it as “CSV UTF-8”.")
    )


def _sniff_delimiter(line: str) -> str:
    """The most frequent of comma, semicolon and tab in the header line."""
    counts = {d: line.count(d) for d in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def _csv_records(data: bytes) -> Iterator[tuple[int, list[str]]]:
    text = _decode(data).lstrip("\ufeff")
    first_row = 1
    delimiter = None
    # Excel writes and understands a first line "sep=;"; it is not shown as a row.
    first_line, _, rest = text.partition("\n")
    if first_line.strip().lower().startswith("sep=") and len(first_line.strip()) == 5:
        delimiter = first_line.strip()[4]
        text = rest
    if delimiter is None:
        header_line = next((ln for ln in text.splitlines() if ln.strip()), "")
        delimiter = _sniff_delimiter(header_line)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        yield from enumerate(reader, start=first_row)
    except csv.Error:
        raise _file_error(_l("This CSV file cannot be read. Check it and save it again.")) from None


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _xlsx_records(data: bytes) -> Iterator[tuple[int, list[str]]]:
    from openpyxl import load_workbook

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError):
        raise _file_error(_l("This is not a valid Excel (.xlsx) file.")) from None
    if unpacked > MAX_XLSX_UNPACKED_BYTES:
        raise _file_error(
            _l("The file is too large (at most %(size)d MB).", size=MAX_FILE_BYTES // 2**20)
        )
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # openpyxl raises many kinds of errors for damaged files
        raise _file_error(_l("This is not a valid Excel (.xlsx) file.")) from None
    try:
        if not workbook.worksheets:
            raise _file_error(_l("The file is empty."))
        sheet = workbook.worksheets[0]
        rows = sheet.iter_rows(values_only=True, max_col=MAX_COLUMNS)
        number = 0
        while True:
            try:
                values = next(rows)
            except StopIteration:
                break
            except Exception:  # damaged sheet XML
                raise _file_error(_l("This is not a valid Excel (.xlsx) file.")) from None
            number += 1
            yield number, [_cell_text(v) for v in values]
    finally:
        workbook.close()


def _read_table(filename: str, records: Iterable[tuple[int, list[str]]]) -> ParsedFile:
    header: dict[int, str] | None = None
    ignored: list[str] = []
    rows: list[ParsedRow] = []
    for number, record in records:
        cells = [c.strip() for c in record[:MAX_COLUMNS]]
        if not any(cells):
            continue
        if header is None:
            header = {}
            for index, raw in enumerate(cells):
                if not raw:
                    continue
                column = HEADER_ALIASES.get(header_key(raw))
                if column is None:
                    ignored.append(raw)
                elif column in header.values():
                    raise _file_error(
                        _l("The column “%(column)s” appears twice in the first row.", column=raw)
                    )
                else:
                    header[index] = column
            missing = [c for c in REQUIRED_COLUMNS if c not in header.values()]
            if missing:
                raise _file_error(
                    _l(
                        "The first row must name the columns; “%(column)s” is missing. "
                        "Expected: %(expected)s.",
                        column=missing[0],
                        expected=", ".join(COLUMNS),
                    )
                )
            continue
        if len(rows) >= MAX_ROWS:
            raise _file_error(
                _l(
                    "The file has more than %(n)d rows. Split it into several files.",
                    n=MAX_ROWS,
                )
            )
        values = {column: "" for column in header.values()}
        for index, column in header.items():
            if index < len(cells):
                values[column] = cells[index]
        rows.append(ParsedRow(number, values))
    if header is None:
        raise _file_error(_l("The file is empty."))
    if not rows:
        raise _file_error(_l("The file has a header row but nobody below it."))
    columns = tuple(c for c in COLUMNS if c in header.values())
    return ParsedFile(filename, columns, tuple(ignored), rows)


# ----------------------------------------------------------------- planning


@dataclass
class RowPlan:
    """What will happen to one row. ``role``, ``team`` and ``supervisor_email`` are
    the values the person will have after the import."""

    row: int
    email: str
    name: str
    role: str | None = None
    team: str | None = None
    vendor: str | None = None
    supervisor_email: str | None = None
    action: str = CREATE
    errors: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    # (field, before, after) for people who exist already
    changes: list[tuple[str, str | None, str | None]] = field(default_factory=list)

    def error(self, message) -> None:
        self.errors.append(message)


@dataclass
class ImportPlan:
    filename: str
    columns: tuple[str, ...]
    ignored_columns: tuple[str, ...]
    rows: list[RowPlan]
    new_vendors: list[str]
    new_teams: list[tuple[str, str | None]]  # (team, vendor or None)

    @property
    def is_valid(self) -> bool:
        return not any(r.errors for r in self.rows)

    @property
    def errors(self) -> dict[int, list]:
        """Row number (as in the spreadsheet) -> messages."""
        return {r.row: list(r.errors) for r in self.rows if r.errors}

    @property
    def counts(self) -> dict[str, int]:
        counts = {CREATE: 0, UPDATE: 0, UNCHANGED: 0, ERROR: 0}
        for r in self.rows:
            counts[r.action] += 1
        counts["total"] = len(self.rows)
        counts["teams"] = len(self.new_teams)
        counts["vendors"] = len(self.new_vendors)
        return counts

    def digest(self) -> str:
        """A fingerprint of every change the plan makes, to notice that the database
        changed between the preview a person saw and their confirmation."""
        payload = {
            "rows": [
                [r.row, r.action, r.email, r.name, r.role, r.team, r.supervisor_email,
                 r.changes]
                for r in self.rows
            ],
            "teams": self.new_teams,
            "vendors": self.new_vendors,
        }
        encoded = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(encoded.encode()).hexdigest()


def _key(name: str | None) -> str:
    return (name or "").strip().casefold()


@lru_cache(maxsize=1024)
def _valid_domain(domain: str) -> bool:
    return is_valid_email(f"x@{domain}")


# Plain local parts (letters, digits, . _ + -, no leading, trailing or double dot) are
# valid for email_validator whatever the domain; checking each domain once keeps a
# 20,000-row file fast while accepting exactly what the people forms accept.
_PLAIN_LOCAL_PART = re.compile(r"^(?!.*\.\.)[a-z0-9_+-](?:[a-z0-9._+-]{0,62}[a-z0-9_+-])?$")


def valid_email(email: str) -> bool:
    """Email syntax as the people forms accept it, fast for large files."""
    local, at, domain = email.rpartition("@")
    if at and _PLAIN_LOCAL_PART.match(local):
        return _valid_domain(domain)
    return is_valid_email(email)


@dataclass
class _Organisation:
    """A read-only snapshot of the people, teams and vendors in the database."""

    users: dict[str, Any]  # email -> row(id, email, display_name, role, team_id, ...)
    email_by_id: dict[int, str]
    teams: dict[str, list[Any]]  # name key -> rows(id, name, vendor_id, active)
    team_by_id: dict[int, Any]
    vendors: dict[str, list[Any]]
    vendor_by_id: dict[int, Any]

    @classmethod
    def load(cls) -> _Organisation:
        users = db.session.execute(
            select(
                User.id, User.email, User.display_name, User.role, User.team_id,
                User.supervisor_id, User.active,
            )
        ).all()
        teams = db.session.execute(select(Team.id, Team.name, Team.vendor_id, Team.active)).all()
        vendors = db.session.execute(select(Vendor.id, Vendor.name, Vendor.active)).all()
        team_index: dict[str, list[Any]] = {}
        for t in teams:
            team_index.setdefault(_key(t.name), []).append(t)
        vendor_index: dict[str, list[Any]] = {}
        for v in vendors:
            vendor_index.setdefault(_key(v.name), []).append(v)
        return cls(
            users={u.email: u for u in users},
            email_by_id={u.id: u.email for u in users},
            teams=team_index,
            team_by_id={t.id: t for t in teams},
            vendors=vendor_index,
            vendor_by_id={v.id: v for v in vendors},
        )


def build_plan(actor: User, parsed: ParsedFile) -> ImportPlan:
    """Check every row against the file and the database; write nothing."""
    require_admin(actor)
    org = _Organisation.load()
    has = set(parsed.columns)
    plans: list[RowPlan] = []
    first_row_of: dict[str, RowPlan] = {}  # email -> first valid row with it

    for parsed_row in parsed.rows:
        values = parsed_row.values
        plan = RowPlan(
            row=parsed_row.row,
            email=normalise_email(values.get("email")),
            name=values.get("name", ""),
        )
        plans.append(plan)
        _check_identity(plan, first_row_of)
        _check_role(plan, values, org, actor)
        _check_team_and_vendor(plan, values, has, org)

    new_teams, new_vendors = _resolve_new_teams(plans, org)
    _check_supervisors(plans, parsed, org, first_row_of)
    _check_cycles(plans, org, first_row_of)
    for plan in plans:
        _decide_action(plan, org, has)
    return ImportPlan(
        filename=parsed.filename,
        columns=parsed.columns,
        ignored_columns=parsed.ignored_columns,
        rows=plans,
        new_vendors=new_vendors,
        new_teams=new_teams,
    )


def _check_identity(plan: RowPlan, first_row_of: dict[str, RowPlan]) -> None:
    if not plan.email:
        plan.error(_l("The email address is missing."))
    elif len(plan.email) > MAX_EMAIL_LENGTH or not valid_email(plan.email):
        plan.error(_l("“%(email)s” is not a valid email address.", email=plan.email))
    elif plan.email in first_row_of:
        plan.error(
            _l(
                "The email address %(email)s is already on row %(row)d.",
                email=plan.email,
                row=first_row_of[plan.email].row,
            )
        )
    else:
        first_row_of[plan.email] = plan
    if not plan.name:
        plan.error(_l("The name is missing."))
    elif len(plan.name) > MAX_NAME_LENGTH:
        plan.error(_l("The name is longer than %(n)d characters.", n=MAX_NAME_LENGTH))


def _check_role(plan: RowPlan, values: dict[str, str], org: _Organisation, actor: User) -> None:
    existing = org.users.get(plan.email)
    raw = values.get("role", "")
    if raw:
        role = ROLE_ALIASES.get(raw.strip().lower())
        if role is None:
            plan.error(
                _l("Unknown role “%(role)s”. Use admin, manager or member.", role=raw)
            )
            return
    else:
        role = existing.role if existing is not None else Role.MEMBER.value
    plan.role = role
    if plan.email == normalise_email(actor.email) and role != Role.ADMIN.value:
        plan.error(_l("You cannot remove your own administrator role."))


def _check_team_and_vendor(
    plan: RowPlan, values: dict[str, str], has: set[str], org: _Organisation
) -> None:
    existing = org.users.get(plan.email)
    team = values.get("team", "")
    vendor = values.get("vendor", "")
    if "team" not in has and existing is not None and existing.team_id is not None:
        team = org.team_by_id[existing.team_id].name
    plan.vendor = vendor or None
    if len(team) > MAX_NAME_LENGTH or len(vendor) > MAX_NAME_LENGTH:
        plan.error(_l("Team and vendor names have at most %(n)d characters.", n=MAX_NAME_LENGTH))
        return
    if vendor and not team:
        plan.error(
            _l("A vendor is given without a team. Name the team of %(vendor)s.", vendor=vendor)
        )
        return
    if not team:
        return
    matches = org.teams.get(_key(team), [])
    if len(matches) > 1:
        plan.error(_l("Several teams are called “%(team)s”. Rename one first.", team=team))
        return
    if matches:
        existing_team = matches[0]
        plan.team = existing_team.name
        owner = org.vendor_by_id.get(existing_team.vendor_id) if existing_team.vendor_id else None
        if vendor and owner is None:
            plan.error(
                _l(
                    "The team %(team)s is an in-house team, not a team of %(vendor)s.",
                    team=existing_team.name,
                    vendor=vendor,
                )
            )
        elif vendor and _key(owner.name) != _key(vendor):
            plan.error(
                _l(
                    "The team %(team)s belongs to %(owner)s, not to %(vendor)s.",
                    team=existing_team.name,
                    owner=owner.name,
                    vendor=vendor,
                )
            )
        if not existing_team.active:
            plan.notes.append(_l("The team %(team)s is deactivated.", team=existing_team.name))
    else:
        plan.team = team


def _resolve_new_teams(
    plans: list[RowPlan], org: _Organisation
) -> tuple[list[tuple[str, str | None]], list[str]]:
    """Teams to create, each with the vendor its rows name; rows naming another
    vendor for the same new team are conflicts."""
    declared: dict[str, tuple[str, str | None, int | None]] = {}  # key -> name, vendor, row
    for plan in plans:
        if plan.errors or not plan.team or _key(plan.team) in org.teams:
            continue
        key = _key(plan.team)
        name, vendor, row = declared.get(key, (plan.team, None, None))
        if plan.vendor:
            if vendor is None:
                declared[key] = (name, plan.vendor, plan.row)
                continue
            if _key(vendor) != _key(plan.vendor):
                plan.error(
                    _l(
                        "The team %(team)s belongs to %(owner)s on row %(row)d, "
                        "not to %(vendor)s.",
                        team=name,
                        owner=vendor,
                        row=row,
                        vendor=plan.vendor,
                    )
                )
                continue
        declared.setdefault(key, (name, vendor, row))
        plan.team = declared[key][0]

    new_teams: list[tuple[str, str | None]] = []
    new_vendors: dict[str, str] = {}
    for name, vendor, _row in declared.values():
        if vendor is not None:
            matches = org.vendors.get(_key(vendor), [])
            vendor = matches[0].name if matches else new_vendors.setdefault(_key(vendor), vendor)
        new_teams.append((name, vendor))
    # Rows show the vendor the team will really have (existing spelling).
    vendor_of_team = {_key(name): vendor for name, vendor in new_teams}
    for plan in plans:
        if plan.errors:
            continue  # show what the file says
        if plan.team and _key(plan.team) in vendor_of_team:
            plan.vendor = vendor_of_team[_key(plan.team)]
            if plan.vendor:
                owner = org.vendors.get(_key(plan.vendor), [])
                if owner and not owner[0].active:
                    plan.notes.append(
                        _l("The vendor %(vendor)s is deactivated.", vendor=plan.vendor)
                    )
        elif plan.team and _key(plan.team) in org.teams:
            team = org.teams[_key(plan.team)][0]
            owner = org.vendor_by_id.get(team.vendor_id) if team.vendor_id else None
            plan.vendor = owner.name if owner else None
    return new_teams, list(new_vendors.values())


def _check_supervisors(
    plans: list[RowPlan],
    parsed: ParsedFile,
    org: _Organisation,
    first_row_of: dict[str, RowPlan],
) -> None:
    has_column = "supervisor_email" in parsed.columns
    for plan, parsed_row in zip(plans, parsed.rows, strict=True):
        existing = org.users.get(plan.email)
        if not has_column:
            if existing is not None and existing.supervisor_id is not None:
                plan.supervisor_email = org.email_by_id.get(existing.supervisor_id)
            continue
        supervisor = normalise_email(parsed_row.values.get("supervisor_email"))
        if not supervisor:
            continue
        if supervisor == plan.email:
            plan.error(_l("Nobody can be their own supervisor."))
            continue
        if supervisor not in first_row_of and supervisor not in org.users:
            plan.error(
                _l(
                    "The supervisor %(email)s is neither in the file nor in Orbit.",
                    email=supervisor,
                )
            )
            continue
        plan.supervisor_email = supervisor
        in_db = org.users.get(supervisor)
        if in_db is not None and not in_db.active:
            plan.notes.append(
                _l("The supervisor %(email)s is deactivated.", email=supervisor)
            )


def _check_cycles(
    plans: list[RowPlan], org: _Organisation, first_row_of: dict[str, RowPlan]
) -> None:
    """Find loops in the reporting line as it will be after the import.

    Everyone has at most one supervisor, so following supervisors from each person
    either ends at the top or enters a loop. One iterative walk per person, each
    person visited once: no recursion limit, linear time.
    """
    supervisor_of: dict[str, str | None] = {
        email: org.email_by_id.get(user.supervisor_id) if user.supervisor_id else None
        for email, user in org.users.items()
    }
    for email, plan in first_row_of.items():
        supervisor_of[email] = plan.supervisor_email
    walk_of: dict[str, int] = {}
    for walk, start in enumerate(supervisor_of, start=1):
        if start in walk_of:
            continue
        path: list[str] = []
        node: str | None = start
        while node is not None and node not in walk_of:
            walk_of[node] = walk
            path.append(node)
            node = supervisor_of.get(node)
        if node is None or walk_of[node] != walk:
            continue  # reached the top, or a part already checked
        loop = path[path.index(node):]
        for position, email in enumerate(loop):
            plan = first_row_of.get(email)
            if plan is None:
                continue
            chain = loop[position:] + loop[:position]
            if len(chain) > 8:
                chain = [*chain[:3], "…", *chain[-2:]]
            plan.error(
                _l(
                    "The reporting line makes a loop: %(chain)s.",
                    chain=" → ".join([*chain, email]),
                )
            )


def _decide_action(plan: RowPlan, org: _Organisation, has: set[str]) -> None:
    if plan.errors:
        plan.action = ERROR
        return
    existing = org.users.get(plan.email)
    if existing is None:
        plan.action = CREATE
        return
    before_team = org.team_by_id[existing.team_id].name if existing.team_id else None
    before_supervisor = (
        org.email_by_id.get(existing.supervisor_id) if existing.supervisor_id else None
    )
    for name, before, after in (
        ("name", existing.display_name, plan.name),
        ("role", existing.role, plan.role),
        ("team", before_team, plan.team),
        ("supervisor", before_supervisor, plan.supervisor_email),
    ):
        if name == "team" and _key(before) == _key(after):
            continue
        if before != after:
            plan.changes.append((name, before, after))
    plan.action = UPDATE if plan.changes else UNCHANGED
    if not existing.active:
        plan.notes.append(_l("This person is deactivated and stays deactivated."))


# ----------------------------------------------------------------- applying


@dataclass(frozen=True)
class ImportResult:
    created: int
    updated: int
    unchanged: int
    teams_created: int
    vendors_created: int


def _chunks(items: list, size: int = _IN_CHUNK) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _reporting_levels(creates: list[RowPlan]) -> list[list[RowPlan]]:
    """New people grouped so that each group's supervisors are in earlier groups
    or already in the database (the plan has no loops)."""
    by_email = {r.email: r for r in creates}
    depth: dict[str, int] = {}
    for r in creates:
        path: list[str] = []
        node: str | None = r.email
        while node in by_email and node not in depth:
            if node in path:
                raise RuntimeError("loop in a validated reporting line")
            path.append(node)
            node = by_email[node].supervisor_email
        level = depth.get(node, -1) if node is not None else -1
        for email in reversed(path):
            level += 1
            depth[email] = level
    levels: list[list[RowPlan]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for r in creates:
        levels[depth[r.email]].append(r)
    return levels


def _user_ids(emails: list[str]) -> dict[str, int]:
    ids: dict[str, int] = {}
    for chunk in _chunks(emails):
        query = select(User.email, User.id).where(User.email.in_(chunk))
        ids.update((email, user_id) for email, user_id in db.session.execute(query))
    return ids


def apply_import(actor: User, plan: ImportPlan) -> ImportResult:
    """Write a plan without errors (flush, no commit); else raise :class:`ServiceError`
    with ``errors`` mapping row numbers to messages.

    The plan must have been built in the same transaction: build it again right
    before applying, so that it reflects the current database.
    """
    require_admin(actor)
    if not plan.is_valid:
        raise ServiceError(
            _l("The file has errors. Nothing was imported."), field="file", errors=plan.errors
        )
    vendors = {_key(v.name): v for v in db.session.scalars(select(Vendor))}
    for name in plan.new_vendors:
        if _key(name) not in vendors:
            vendors[_key(name)] = Vendor(name=name, active=True)
            db.session.add(vendors[_key(name)])
    teams = {_key(t.name): t for t in db.session.scalars(select(Team))}
    for name, vendor in plan.new_teams:
        if _key(name) not in teams:
            teams[_key(name)] = Team(
                name=name, vendor=vendors[_key(vendor)] if vendor else None, active=True
            )
            db.session.add(teams[_key(name)])
    db.session.flush()

    # Bulk statements, not one ORM object per person: a 20,000-row file must
    # import within a request's time limit. New people are inserted level by level
    # of the reporting line, so that every supervisor exists before their reports.
    team_ids = {key: team.id for key, team in teams.items()}
    creates = [r for r in plan.rows if r.action == CREATE]
    updates = [r for r in plan.rows if r.action == UPDATE]
    new_emails = {r.email for r in creates}
    ids = _user_ids(
        sorted({r.email for r in updates}
               | {r.supervisor_email for r in creates + updates if r.supervisor_email}
               - new_emails)
    )
    for level in _reporting_levels(creates):
        for chunk in _chunks(level):
            # No password: nobody can log in as an imported person until an
            # administrator resets the password and hands it over.
            inserted = db.session.execute(
                insert(User).returning(User.email, User.id),
                [
                    {"email": r.email, "display_name": r.name, "role": r.role,
                     "team_id": team_ids[_key(r.team)] if r.team else None,
                     "supervisor_id": ids[r.supervisor_email] if r.supervisor_email else None,
                     "password_hash": None, "must_change_password": True, "active": True}
                    for r in chunk
                ],
            )
            ids.update((email, user_id) for email, user_id in inserted)
    if updates:
        db.session.execute(
            update(User),
            [
                {"id": ids[r.email], "display_name": r.name, "role": r.role,
                 "team_id": team_ids[_key(r.team)] if r.team else None,
                 "supervisor_id": ids[r.supervisor_email] if r.supervisor_email else None}
                for r in updates
            ],
        )
        # Bulk statements bypass the identity map: reload people already in memory.
        changed_ids = {ids[r.email] for r in updates}
        for obj in list(db.session.identity_map.values()):
            if isinstance(obj, User) and obj.id in changed_ids:
                db.session.expire(obj)

    counts = plan.counts
    result = ImportResult(
        created=counts[CREATE],
        updated=counts[UPDATE],
        unchanged=counts[UNCHANGED],
        teams_created=len(plan.new_teams),
        vendors_created=len(plan.new_vendors),
    )
    audit.record(
        "org.import",
        actor=actor,
        details={"filename": plan.filename, "rows": counts["total"], **asdict(result)},
    )
    db.session.flush()
    return result


# ----------------------------------------------------------------- between preview and confirm


@dataclass(frozen=True)
class PendingImport:
    token: str
    parsed: ParsedFile
    digest: str


class PendingImports:
    """Parsed files waiting for confirmation, one JSON file each in ``directory``.

    The browser holds only the random token; a token is refused after
    ``ttl_seconds`` and for anyone but the administrator who uploaded the file.
    Every host serving the app must see the same directory.
    """

    def __init__(
        self,
        directory: Path,
        *,
        ttl_seconds: int = PENDING_TTL_SECONDS,
        clock: Callable[[], float] = time.time,
    ):
        self.directory = Path(directory)
        self.ttl_seconds = ttl_seconds
        self.clock = clock

    def _path(self, token: str) -> Path | None:
        if not isinstance(token, str) or not _TOKEN_RE.match(token):
            return None
        return self.directory / f"{token}.json"

    def save(self, actor_id: int, parsed: ParsedFile, digest: str) -> str:
        self.purge_expired()
        token = secrets.token_urlsafe(32)
        self._write(token, {
            "actor_id": actor_id,
            "created_at": self.clock(),
            "digest": digest,
            "file": parsed.to_dict(),
        })
        return token

    def update_digest(self, token: str, actor_id: int, digest: str) -> None:
        pending = self._read(token, actor_id)
        pending["digest"] = digest
        self._write(token, pending)

    def load(self, token: str, actor_id: int) -> PendingImport:
        pending = self._read(token, actor_id)
        return PendingImport(token, ParsedFile.from_dict(pending["file"]), pending["digest"])

    def discard(self, token: str) -> None:
        path = self._path(token)
        if path is not None:
            path.unlink(missing_ok=True)

    def purge_expired(self) -> None:
        if not self.directory.is_dir():
            return
        limit = self.clock() - self.ttl_seconds
        for path in self.directory.glob("*.json"):
            with contextlib.suppress(OSError):
                if path.stat().st_mtime < limit:
                    path.unlink()

    def _read(self, token: str, actor_id: int) -> dict[str, Any]:
        gone = ServiceError(
            _l("This preview has expired or is not yours. Upload the file again.")
        )
        path = self._path(token)
        if path is None:
            raise gone
        try:
            pending = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise gone from None
        if pending.get("actor_id") != actor_id:
            raise gone
        if self.clock() - float(pending.get("created_at", 0)) > self.ttl_seconds:
            path.unlink(missing_ok=True)
            raise gone
        return pending

    def _write(self, token: str, content: dict[str, Any]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, temporary = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(content, handle, ensure_ascii=False)
            os.replace(temporary, self.directory / f"{token}.json")
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise


def template_csv(chinese_headers: bool = False) -> bytes:
    """An empty import file with the header row, UTF-8 with BOM (Excel opens it right)."""
    headers = [CHINESE_HEADERS[c] for c in COLUMNS] if chinese_headers else list(COLUMNS)
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\r\n").writerow(headers)
    return codecs.BOM_UTF8 + out.getvalue().encode("utf-8")


PREVIEW_ROW_LIMIT = 1000


def pending_imports(kind: str = "") -> PendingImports:
    """The store of uploads waiting for confirmation (``kind``: a sub-folder per kind
    of upload). It lives in ``ORGCHART_IMPORT_DIR`` (default ``<instance>/imports``),
    which every host serving the app must share."""
    from flask import current_app

    base = Path(current_app.config.get("ORGCHART_IMPORT_DIR") or (
        Path(current_app.instance_path) / "imports"
    ))
    return PendingImports(
        base / kind if kind else base,
        ttl_seconds=current_app.config.get("ORGCHART_IMPORT_TTL_SECONDS", PENDING_TTL_SECONDS),
    )


def preview_rows(rows: list, limit: int | None = None) -> list:
    """The rows a preview shows: every row of a short file; of a long one, the rows
    with errors first (up to ``limit``), then valid ones to fill up, in file order.
    Rows have ``row`` (number) and ``errors``."""
    limit = PREVIEW_ROW_LIMIT if limit is None else limit
    if len(rows) <= limit:
        return rows
    shown = [r for r in rows if r.errors][:limit]
    room = limit - len(shown)
    shown += [r for r in rows if not r.errors][:max(room, 0)]
    return sorted(shown, key=lambda r: r.row)
