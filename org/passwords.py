"""Password hashing with argon2id (memory-hard) and the password policy."""

from __future__ import annotations

import contextlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app

from core.exceptions import ServiceError
from core.i18n import lazy_gettext as _l

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 256


def _hasher() -> PasswordHasher:
    cfg = current_app.config
    key = (cfg["ARGON2_TIME_COST"], cfg["ARGON2_MEMORY_COST_KIB"], cfg["ARGON2_PARALLELISM"])
    cache = current_app.extensions.setdefault("orbit_argon2", {})
    if key not in cache:
        cache[key] = PasswordHasher(time_cost=key[0], memory_cost=key[1], parallelism=key[2])
    return cache[key]


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True if ``password`` matches; hashing work is done even without a hash."""
    hasher = _hasher()
    if not password_hash:
        # Spend the same effort as a real check so timing does not reveal
        # whether the account exists.
        _dummy = current_app.extensions.setdefault("orbit_dummy_hash", hasher.hash("x" * 16))
        with contextlib.suppress(VerificationError, InvalidHashError):
            hasher.verify(_dummy, password + "\0")
        return False
    try:
        return hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher().check_needs_rehash(password_hash)


def check_password_policy(password: str, *, email: str = "") -> None:
    """Raise :class:`ServiceError` if ``password`` is too weak."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ServiceError(
            _l("Use at least %(n)d characters.", n=MIN_PASSWORD_LENGTH), field="new_password"
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ServiceError(
            _l("Use at most %(n)d characters.", n=MAX_PASSWORD_LENGTH), field="new_password"
        )
    lowered = password.lower()
    if email and (lowered == email.lower() or lowered == email.split("@")[0].lower()):
        raise ServiceError(_l("Do not use your email address as password."), field="new_password")
    if len(set(password)) < 4:
        raise ServiceError(_l("This password is too easy to guess."), field="new_password")


def generate_temporary_password() -> str:
    """A random password to hand over once (about 96 bits)."""
    return secrets.token_urlsafe(12)
