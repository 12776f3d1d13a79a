"""API keys: creating, revoking and checking the keys integrators use.

A key looks like ``orb_<prefix>_<secret>``. The prefix (public, unique) finds the
row; only the SHA-256 of the whole key is stored. A plain hash is enough here: the
secret is 256 random bits, so there is nothing to brute-force (unlike passwords,
which need a slow hash). The plaintext is returned once, when the key is made.

A key acts as an *API actor* (:class:`ApiActor`): with administrator rights on
organisation data, recorded in the audit trail under the key, not a person.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from core.database import utcnow
from core.exceptions import NotFound, PermissionDenied, ServiceError
from core.extensions import db
from core.i18n import lazy_gettext as _l
from org import audit
from org.models import ApiKey, ApiScope, Role
from org.services import clean_text, require_admin

KEY_PREFIX = "orb"
PREFIX_BYTES = 6  # 12 hex characters: public, only for finding the row
SECRET_BYTES = 32  # 256 bits from the OS's CSPRNG
LAST_USED_RESOLUTION = timedelta(minutes=1)  # at most one write per key per minute
SCOPES = tuple(s.value for s in ApiScope)
MAX_KEY_LENGTH = 200


class ApiActor:
    """The identity of a request made with an API key.

    Services take an *actor* and check ``is_admin`` / ``role``; an API key acts
    with administrator rights on organisation data. ``id`` is ``None`` (it is not
    a person), so audit events name the key instead (``api_key``).
    """

    id = None
    role = Role.ADMIN.value
    is_admin = True
    is_manager = False
    is_authenticated = True
    locale = None

    def __init__(self, api_key: ApiKey):
        self.api_key = api_key

    @property
    def display_name(self) -> str:
        return self.api_key.name

    @property
    def can_write(self) -> bool:
        return self.api_key.scope == ApiScope.WRITE

    def __repr__(self) -> str:
        return f"<ApiActor key={self.api_key.prefix!r} scope={self.api_key.scope!r}>"


def hash_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


def _new_prefix() -> str:
    while True:
        prefix = secrets.token_hex(PREFIX_BYTES)
        if db.session.scalar(select(ApiKey.id).where(ApiKey.prefix == prefix)) is None:
            return prefix


def _require_person_admin(actor) -> None:
    """Keys are managed by people: an API key cannot make or revoke keys."""
    require_admin(actor)
    if isinstance(actor, ApiActor):
        raise PermissionDenied(_l("Only administrators can do this."))


def create_api_key(actor, name: str, scope: str) -> tuple[ApiKey, str]:
    """Make a key; return it with its plaintext, which is never available again."""
    _require_person_admin(actor)
    name = clean_text(name, "name", required=True, max_length=200)
    if scope not in SCOPES:
        raise ServiceError(_l("Choose read or write."), field="scope")
    prefix = _new_prefix()
    plaintext = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(SECRET_BYTES)}"
    key = ApiKey(
        name=name,
        prefix=prefix,
        key_hash=hash_key(plaintext),
        scope=scope,
        created_by_id=actor.id,
    )
    db.session.add(key)
    db.session.flush()
    audit.record(
        "api_key.create", key, actor=actor, details={"name": name, "prefix": prefix, "scope": scope}
    )
    return key, plaintext


def revoke_api_key(actor, key: ApiKey) -> ApiKey:
    """Revoke a key for good (revoking a revoked key changes nothing)."""
    _require_person_admin(actor)
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        db.session.flush()
        audit.record("api_key.revoke", key, actor=actor, details={"prefix": key.prefix})
    return key


def list_api_keys(actor) -> list[ApiKey]:
    """Every key, usable ones first, newest first."""
    _require_person_admin(actor)
    query = (
        select(ApiKey)
        .options(selectinload(ApiKey.created_by))
        .order_by(ApiKey.revoked_at.is_not(None), ApiKey.created_at.desc(), ApiKey.id.desc())
    )
    return list(db.session.scalars(query))


def get_api_key(actor, key_id: int) -> ApiKey:
    _require_person_admin(actor)
    key = db.session.get(ApiKey, key_id)
    if key is None:
        raise NotFound(_l("No such API key."))
    return key


def presented_key(authorization: str | None, x_api_key: str | None = None) -> str | None:
    """The key sent as ``Authorization: Bearer <key>`` or, failing that, as ``X-API-Key``."""
    scheme, _, value = (authorization or "").strip().partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return (x_api_key or "").strip() or None


def authenticate_api_key(presented: str | None) -> ApiKey | None:
    """The usable key whose plaintext is ``presented``, else ``None``.

    Unknown, malformed and revoked keys all give ``None``. The key's
    ``last_used_at`` is refreshed (flushed; committed with the request) at most
    once a minute, so a busy integration does not write on every request.
    """
    if not presented or len(presented) > MAX_KEY_LENGTH:
        return None
    parts = presented.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or not parts[1] or not parts[2]:
        return None
    key = db.session.scalar(select(ApiKey).where(ApiKey.prefix == parts[1]))
    if key is None or not hmac.compare_digest(key.key_hash, hash_key(presented)):
        return None
    if key.revoked_at is not None:
        return None
    now = utcnow()
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
        key.last_used_at = now
        db.session.flush()
    return key
