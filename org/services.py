"""Business operations on people and organisation.

Services check access, validate, change objects and *flush*; the route or API
endpoint that called them commits once.
"""

from __future__ import annotations

from datetime import date

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import aliased

from core.database import utcnow
from core.exceptions import NotFound, PermissionDenied, ServiceError
from core.extensions import db
from core.i18n import lazy_gettext as _l
from org import audit
from org.models import ROLES, Role, Team, User, Vendor, normalise_email
from org.passwords import (
    check_password_policy,
    generate_temporary_password,
    hash_password,
    needs_rehash,
    verify_password,
)

LOCALES = ("en", "zh_CN")

# ----------------------------------------------------------------- access


def require_admin(actor: User) -> None:
    if actor is None or not getattr(actor, "is_admin", False):
        raise PermissionDenied(_l("Only administrators can do this."))


def require_staff(actor: User) -> None:
    """Admins and managers."""
    if actor is None or getattr(actor, "role", None) not in (Role.ADMIN, Role.MANAGER):
        raise PermissionDenied(_l("You do not have permission to see this page."))


def reporting_line_ids(manager_id: int) -> Select:
    """Ids of everyone below ``manager_id`` in the reporting line (any depth)."""
    below = (
        select(User.id.label("id"))
        .where(User.supervisor_id == manager_id)
        .cte("reporting_line", recursive=True)
    )
    child = aliased(User)
    below = below.union(select(child.id).where(child.supervisor_id == below.c.id))
    return select(below.c.id)


def visible_users(actor: User) -> Select:
    """Users ``actor`` may see: admins all, managers their reporting line and
    themselves, members themselves."""
    query = select(User)
    if actor.is_admin:
        return query
    if actor.is_manager:
        return query.where(or_(User.id == actor.id, User.id.in_(reporting_line_ids(actor.id))))
    return query.where(User.id == actor.id)


def get_user_for(actor: User, user_id: int) -> User:
    """The user, if ``actor`` may see them; otherwise :class:`NotFound` (not 403,
    so ids of other people's colleagues reveal nothing)."""
    user = db.session.scalar(visible_users(actor).where(User.id == user_id))
    if user is None:
        raise NotFound(_l("No such person."))
    return user


def can_view_user(actor: User, user: User) -> bool:
    try:
        get_user_for(actor, user.id)
    except NotFound:
        return False
    return True


# ----------------------------------------------------------------- queries


def contains_pattern(text: str) -> str:
    """A LIKE pattern matching ``text`` literally anywhere (``%`` and ``_`` escaped)."""
    text = text.strip().lower()
    text = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{text}%"


def search_users(
    actor: User,
    *,
    q: str | None = None,
    role: str | None = None,
    team_id: int | None = None,
    active: bool | None = None,
) -> Select:
    query = visible_users(actor)
    if q:
        like = contains_pattern(q)
        query = query.where(
            or_(
                func.lower(User.email).like(like, escape="\\"),
                func.lower(User.display_name).like(like, escape="\\"),
            )
        )
    if role in ROLES:
        query = query.where(User.role == role)
    if team_id:
        query = query.where(User.team_id == team_id)
    if active is not None:
        query = query.where(User.active.is_(active))
    return query.order_by(func.lower(User.display_name), User.id)


def search_teams(actor: User, *, q: str | None = None, active: bool | None = None) -> Select:
    require_staff(actor)
    query = select(Team)
    if q:
        query = query.where(func.lower(Team.name).like(contains_pattern(q), escape="\\"))
    if active is not None:
        query = query.where(Team.active.is_(active))
    return query.order_by(func.lower(Team.name), Team.id)


def search_vendors(actor: User, *, q: str | None = None, active: bool | None = None) -> Select:
    require_staff(actor)
    query = select(Vendor)
    if q:
        query = query.where(func.lower(Vendor.name).like(contains_pattern(q), escape="\\"))
    if active is not None:
        query = query.where(Vendor.active.is_(active))
    return query.order_by(func.lower(Vendor.name), Vendor.id)


def get_team(actor: User, team_id: int) -> Team:
    require_staff(actor)
    team = db.session.get(Team, team_id)
    if team is None:
        raise NotFound(_l("No such team."))
    return team


def get_vendor(actor: User, vendor_id: int) -> Vendor:
    require_staff(actor)
    vendor = db.session.get(Vendor, vendor_id)
    if vendor is None:
        raise NotFound(_l("No such vendor."))
    return vendor


def find_user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == normalise_email(email)))


# ----------------------------------------------------------------- validation


def clean_text(value: str | None, field: str, *, required: bool, max_length: int) -> str | None:
    value = (value or "").strip()
    if not value:
        if required:
            raise ServiceError(_l("This field is required."), field=field)
        return None
    if len(value) > max_length:
        raise ServiceError(_l("Use at most %(n)d characters.", n=max_length), field=field)
    return value


def is_valid_email(email: str) -> bool:
    """Syntax check of an address (no DNS look-up: Orbit runs on closed networks)."""
    try:
        validate_email(email, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


def _check_email(email: str, *, exclude_id: int | None = None) -> str:
    email = normalise_email(email)
    if not email:
        raise ServiceError(_l("This field is required."), field="email")
    if not is_valid_email(email):
        raise ServiceError(_l("This is not a valid email address."), field="email")
    other = find_user_by_email(email)
    if other is not None and other.id != exclude_id:
        raise ServiceError(_l("Someone already uses this email address."), field="email")
    return email


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise ServiceError(_l("Choose admin, manager or member."), field="role")
    return role


def _check_locale(locale: str | None) -> str | None:
    if not locale:
        return None
    if locale not in LOCALES:
        raise ServiceError(_l("Unknown language."), field="locale")
    return locale


def _load_team(team_id: int | None) -> Team | None:
    if not team_id:
        return None
    team = db.session.get(Team, team_id)
    if team is None:
        raise ServiceError(_l("No such team."), field="team_id")
    return team


def _load_vendor(vendor_id: int | None) -> Vendor | None:
    if not vendor_id:
        return None
    vendor = db.session.get(Vendor, vendor_id)
    if vendor is None:
        raise ServiceError(_l("No such vendor."), field="vendor_id")
    return vendor


def check_supervisor(user: User | None, supervisor_id: int | None) -> User | None:
    """Load the supervisor and refuse one that would close a loop in the reporting line."""
    if not supervisor_id:
        return None
    supervisor = db.session.get(User, supervisor_id)
    if supervisor is None:
        raise ServiceError(_l("No such supervisor."), field="supervisor_id")
    if user is not None and user.id is not None:
        if supervisor.id == user.id:
            raise ServiceError(_l("Nobody can be their own supervisor."), field="supervisor_id")
        below = set(db.session.scalars(reporting_line_ids(user.id)))
        if supervisor.id in below:
            raise ServiceError(
                _l("This would make a loop in the reporting line."), field="supervisor_id"
            )
    return supervisor


# ----------------------------------------------------------------- users


def create_user(
    actor: User,
    *,
    email: str,
    display_name: str,
    role: str = Role.MEMBER.value,
    team_id: int | None = None,
    supervisor_id: int | None = None,
    locale: str | None = None,
    password: str | None = None,
) -> tuple[User, str | None]:
    """Create a person. Without ``password`` a temporary one is generated, returned
    once and must be changed at first login."""
    require_admin(actor)
    user = User(
        email=_check_email(email),
        display_name=clean_text(display_name, "display_name", required=True, max_length=200),
        role=_check_role(role),
        team=_load_team(team_id),
        supervisor=check_supervisor(None, supervisor_id),
        locale=_check_locale(locale),
        active=True,
    )
    temporary = None
    if password:
        check_password_policy(password, email=user.email)
    else:
        temporary = password = generate_temporary_password()
        user.must_change_password = True
    user.password_hash = hash_password(password)
    db.session.add(user)
    db.session.flush()
    audit.record("user.create", user, actor=actor, details={"email": user.email, "role": role})
    return user, temporary


def update_user(
    actor: User,
    user: User,
    *,
    email: str,
    display_name: str,
    role: str,
    team_id: int | None,
    supervisor_id: int | None,
    locale: str | None,
) -> User:
    require_admin(actor)
    new_role = _check_role(role)
    if user.id == actor.id and new_role != Role.ADMIN:
        raise ServiceError(_l("You cannot remove your own administrator role."), field="role")
    changes = {}
    values = {
        "email": _check_email(email, exclude_id=user.id),
        "display_name": clean_text(display_name, "display_name", required=True, max_length=200),
        "role": new_role,
        "team_id": _load_team(team_id).id if team_id else None,
        "supervisor_id": check_supervisor(user, supervisor_id).id if supervisor_id else None,
        "locale": _check_locale(locale),
    }
    for key, value in values.items():
        if getattr(user, key) != value:
            changes[key] = [getattr(user, key), value]
            setattr(user, key, value)
    db.session.flush()
    if changes:
        audit.record("user.update", user, actor=actor, details=_jsonable(changes))
    return user


def set_user_active(actor: User, user: User, active: bool) -> User:
    """Deactivate (or reactivate) a person; their history stays."""
    require_admin(actor)
    if user.id == actor.id and not active:
        raise ServiceError(_l("You cannot deactivate yourself."))
    if user.active != active:
        user.active = active
        if not active:
            user.login_epoch += 1  # ends their sessions and remember-me cookies
        db.session.flush()
        audit.record("user.activate" if active else "user.deactivate", user, actor=actor)
    return user


def reset_password(actor: User, user: User) -> str:
    """Set a temporary password, shown once; the user must change it at next login."""
    require_admin(actor)
    temporary = generate_temporary_password()
    user.password_hash = hash_password(temporary)
    user.must_change_password = True
    user.login_epoch += 1
    db.session.flush()
    audit.record("user.password_reset", user, actor=actor)
    return temporary


def change_password(user: User, current_password: str, new_password: str) -> None:
    if not verify_password(user.password_hash, current_password or ""):
        raise ServiceError(_l("Your current password is not correct."), field="current_password")
    if current_password == new_password:
        raise ServiceError(
            _l("Choose a password different from the current one."), field="new_password"
        )
    check_password_policy(new_password, email=user.email)
    user.password_hash = hash_password(new_password)
    user.must_change_password = False
    user.login_epoch += 1
    db.session.flush()
    audit.record("user.password_change", user, actor=user)


def authenticate(email: str, password: str) -> User | None:
    """The active user with these credentials, or ``None`` (same for every failure)."""
    user = find_user_by_email(email or "")
    ok = verify_password(user.password_hash if user else None, password or "")
    if not ok or user is None or not user.active:
        return None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = utcnow()
    db.session.flush()
    return user


def create_first_admin(*, email: str, display_name: str, password: str) -> User:
    """Create an administrator from the command line (trusted: no actor)."""
    user = User(
        email=_check_email(email),
        display_name=clean_text(display_name, "display_name", required=True, max_length=200),
        role=Role.ADMIN.value,
        active=True,
    )
    check_password_policy(password, email=user.email)
    user.password_hash = hash_password(password)
    db.session.add(user)
    db.session.flush()
    audit.record("user.create", user, details={"email": user.email, "role": "admin", "via": "cli"})
    return user


def set_own_locale(user: User, locale: str | None) -> None:
    user.locale = _check_locale(locale)
    db.session.flush()


# ----------------------------------------------------------------- teams


def create_team(actor: User, *, name: str, vendor_id: int | None = None) -> Team:
    require_admin(actor)
    team = Team(name=_unique_name(Team, name), vendor=_load_vendor(vendor_id), active=True)
    db.session.add(team)
    db.session.flush()
    audit.record("team.create", team, actor=actor, details={"name": team.name})
    return team


def update_team(actor: User, team: Team, *, name: str, vendor_id: int | None) -> Team:
    require_admin(actor)
    team.name = _unique_name(Team, name, exclude_id=team.id)
    team.vendor = _load_vendor(vendor_id)
    db.session.flush()
    audit.record("team.update", team, actor=actor, details={"name": team.name})
    return team


def set_team_active(actor: User, team: Team, active: bool) -> Team:
    require_admin(actor)
    if team.active != active:
        team.active = active
        db.session.flush()
        audit.record("team.activate" if active else "team.deactivate", team, actor=actor)
    return team


# ----------------------------------------------------------------- vendors


def _check_contract(start: date | None, end: date | None) -> None:
    if start and end and end < start:
        raise ServiceError(
            _l("The contract cannot end before it starts."), field="contract_end"
        )


def create_vendor(
    actor: User,
    *,
    name: str,
    contact_name: str | None = None,
    contact_email: str | None = None,
    contract_start: date | None = None,
    contract_end: date | None = None,
) -> Vendor:
    require_admin(actor)
    _check_contract(contract_start, contract_end)
    vendor = Vendor(
        name=_unique_name(Vendor, name),
        contact_name=clean_text(contact_name, "contact_name", required=False, max_length=200),
        contact_email=_optional_email(contact_email),
        contract_start=contract_start,
        contract_end=contract_end,
        active=True,
    )
    db.session.add(vendor)
    db.session.flush()
    audit.record("vendor.create", vendor, actor=actor, details={"name": vendor.name})
    return vendor


def update_vendor(
    actor: User,
    vendor: Vendor,
    *,
    name: str,
    contact_name: str | None,
    contact_email: str | None,
    contract_start: date | None,
    contract_end: date | None,
) -> Vendor:
    require_admin(actor)
    _check_contract(contract_start, contract_end)
    vendor.name = _unique_name(Vendor, name, exclude_id=vendor.id)
    vendor.contact_name = clean_text(contact_name, "contact_name", required=False, max_length=200)
    vendor.contact_email = _optional_email(contact_email)
    vendor.contract_start = contract_start
    vendor.contract_end = contract_end
    db.session.flush()
    audit.record("vendor.update", vendor, actor=actor, details={"name": vendor.name})
    return vendor


def set_vendor_active(actor: User, vendor: Vendor, active: bool) -> Vendor:
    require_admin(actor)
    if vendor.active != active:
        vendor.active = active
        db.session.flush()
        audit.record("vendor.activate" if active else "vendor.deactivate", vendor, actor=actor)
    return vendor


def _optional_email(value: str | None) -> str | None:
    value = normalise_email(value or "")
    if not value:
        return None
    if not is_valid_email(value):
        raise ServiceError(_l("This is not a valid email address."), field="contact_email")
    return value


def _unique_name(model, name: str, *, exclude_id: int | None = None) -> str:
    name = clean_text(name, "name", required=True, max_length=200)
    other = db.session.scalar(select(model).where(func.lower(model.name) == name.lower()))
    if other is not None and other.id != exclude_id:
        raise ServiceError(_l("This name is already taken."), field="name")
    return name


def _jsonable(changes: dict) -> dict:
    return {k: [None if v is None else str(v) for v in pair] for k, pair in changes.items()}
