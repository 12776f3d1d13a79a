"""Recording who changed what."""

from __future__ import annotations

from core.extensions import db
from org.models import AuditEvent


def record(action: str, obj=None, *, actor=None, api_key=None, details=None, note=None):
    """Add an audit event for ``obj`` (flushed with the caller's transaction).

    An actor acting through an API key (:class:`org.apikeys.ApiActor`) is not a
    person: the event names its key.
    """
    if api_key is None:
        api_key = getattr(actor, "api_key", None)
    event = AuditEvent(
        action=action,
        object_type=type(obj).__name__ if obj is not None else "system",
        object_id=getattr(obj, "id", None),
        actor_id=getattr(actor, "id", None),
        api_key_id=getattr(api_key, "id", None),
        details=details,
        note=note,
    )
    db.session.add(event)
    return event
