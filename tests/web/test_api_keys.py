"""API keys: the admin pages and the service (hashed storage, shown once, revocation)."""

from __future__ import annotations

import hashlib
import re

import pytest
from sqlalchemy import select

from core.exceptions import PermissionDenied, ServiceError
from core.extensions import db
from org import apikeys
from org.models import ApiKey, AuditEvent
from tests.web.apps import isolated_requests

KEY_PATTERN = re.compile(r"orb_[0-9a-f]{12}_[A-Za-z0-9_-]{43}")


@pytest.fixture(autouse=True)
def _isolated_requests(app):
    with isolated_requests(app):
        yield


@pytest.fixture
def in_request(app):
    """Service errors carry translated messages, which need a request's locale."""
    with app.test_request_context():
        yield


def _plaintext_on(html: str) -> str:
    found = KEY_PATTERN.findall(html)
    assert len(found) == 1, html
    return found[0]


# ----------------------------------------------------------------- the service


def test_key_is_random_and_only_its_hash_is_stored(factory):
    admin = factory.admin()
    key, plaintext = apikeys.create_api_key(admin, "HR sync", "write")
    other, other_plaintext = apikeys.create_api_key(admin, "HR sync 2", "read")
    assert KEY_PATTERN.fullmatch(plaintext)  # 43 url-safe characters: 256 random bits
    assert plaintext != other_plaintext and key.prefix != other.prefix
    assert plaintext.startswith(f"orb_{key.prefix}_")
    assert key.key_hash == hashlib.sha256(plaintext.encode()).hexdigest()
    # The secret part (url-safe base64 may itself contain "_": cut by the prefix).
    secret = plaintext.removeprefix(f"orb_{key.prefix}_")[:20]
    assert len(secret) == 20
    row = db.session.execute(select(ApiKey.__table__).where(ApiKey.id == key.id)).one()
    stored = [str(v) for v in row]
    assert not [v for v in stored if secret in v]
    assert (key.scope, key.created_by_id, key.revoked_at) == ("write", admin.id, None)


def test_authenticate_accepts_the_key_and_refuses_anything_else(factory):
    admin = factory.admin()
    key, plaintext = apikeys.create_api_key(admin, "Sync", "read")
    assert apikeys.authenticate_api_key(plaintext) is key
    for wrong in (None, "", plaintext + "x", plaintext[:-1], f"orb_{key.prefix}_", "x" * 500):
        assert apikeys.authenticate_api_key(wrong) is None
    apikeys.revoke_api_key(admin, key)
    assert apikeys.authenticate_api_key(plaintext) is None


def test_presented_key_reads_bearer_then_x_api_key():
    assert apikeys.presented_key("Bearer abc") == "abc"
    assert apikeys.presented_key("bearer  abc ") == "abc"
    assert apikeys.presented_key("Basic abc", "def") == "def"
    assert apikeys.presented_key(None, None) is None


@pytest.mark.usefixtures("in_request")
def test_only_admins_manage_keys(factory):
    admin = factory.admin()
    key, _ = apikeys.create_api_key(admin, "Sync", "write")
    for person in (factory.manager(), factory.user()):
        with pytest.raises(PermissionDenied):
            apikeys.create_api_key(person, "Mine", "write")
        with pytest.raises(PermissionDenied):
            apikeys.revoke_api_key(person, key)
        with pytest.raises(PermissionDenied):
            apikeys.list_api_keys(person)


@pytest.mark.usefixtures("in_request")
def test_an_api_key_cannot_make_more_keys(factory):
    admin = factory.admin()
    key, _ = apikeys.create_api_key(admin, "Sync", "write")
    actor = apikeys.ApiActor(key)
    with pytest.raises(PermissionDenied):
        apikeys.create_api_key(actor, "Another", "write")
    with pytest.raises(PermissionDenied):
        apikeys.revoke_api_key(actor, key)


@pytest.mark.parametrize(
    ("name", "scope", "field"), [("", "read", "name"), ("x" * 201, "read", "name"),
                                 ("Sync", "admin", "scope")]
)
@pytest.mark.usefixtures("in_request")
def test_bad_name_or_scope_is_refused(factory, name, scope, field):
    with pytest.raises(ServiceError) as info:
        apikeys.create_api_key(factory.admin(), name, scope)
    assert info.value.field == field


def test_create_and_revoke_are_audited_and_revoking_twice_changes_nothing(factory):
    admin = factory.admin()
    key, plaintext = apikeys.create_api_key(admin, "Sync", "read")
    apikeys.revoke_api_key(admin, key)
    revoked_at = key.revoked_at
    apikeys.revoke_api_key(admin, key)
    assert key.revoked_at == revoked_at
    db.session.flush()
    events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.object_type == "ApiKey", AuditEvent.object_id == key.id)
    ).all()
    assert [(e.action, e.actor_id) for e in events] == [
        ("api_key.create", admin.id), ("api_key.revoke", admin.id)
    ]
    assert plaintext not in str([e.details for e in events])


# ----------------------------------------------------------------- the pages


def test_admin_creates_a_key_and_sees_it_once(factory, login_as):
    admin = factory.admin()
    client = login_as(admin)
    response = client.post("/api-keys/", data={"name": "Payroll export", "scope": "write"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    plaintext = _plaintext_on(html)
    assert "shown only once" in html
    assert response.headers["Cache-Control"] == "no-store"
    key = db.session.scalar(select(ApiKey).where(ApiKey.name == "Payroll export"))
    assert (key.scope, key.created_by_id) == ("write", admin.id)
    assert key.key_hash == hashlib.sha256(plaintext.encode()).hexdigest()

    listing = client.get("/api-keys/").get_data(as_text=True)
    assert "Payroll export" in listing and f"orb_{key.prefix}_" in listing
    assert plaintext not in listing  # never shown again

    db.session.commit()
    api = client.get("/api/v1/teams", headers={"Authorization": f"Bearer {plaintext}"})
    assert api.status_code == 200


def test_admin_revokes_a_key_and_it_stops_working(factory, login_as):
    admin = factory.admin()
    key, plaintext = apikeys.create_api_key(admin, "Old sync", "read")
    client = login_as(admin)
    headers = {"Authorization": f"Bearer {plaintext}"}
    assert client.get("/api/v1/teams", headers=headers).status_code == 200
    response = client.post(f"/api-keys/{key.id}/revoke", follow_redirects=True)
    assert response.status_code == 200
    assert "no longer works" in response.get_data(as_text=True)
    db.session.refresh(key)
    assert key.revoked_at is not None
    assert client.get("/api/v1/teams", headers=headers).status_code == 401
    assert client.post("/api-keys/999999/revoke").status_code == 404


def test_form_errors_are_shown_and_no_key_is_made(factory, login_as):
    client = login_as(factory.admin())
    response = client.post("/api-keys/", data={"name": "", "scope": "write"})
    assert response.status_code == 200
    assert 'aria-invalid="true"' in response.get_data(as_text=True)
    response = client.post("/api-keys/", data={"name": "Sync", "scope": "root"})
    assert not KEY_PATTERN.search(response.get_data(as_text=True))
    assert db.session.scalar(select(ApiKey.id)) is None


@pytest.mark.parametrize("role", ["member", "manager"])
def test_people_who_are_not_admins_get_403(factory, login_as, role):
    admin = factory.admin()
    key, _ = apikeys.create_api_key(admin, "Sync", "read")
    client = login_as(factory.user(role=role))
    assert client.get("/api-keys/").status_code == 403
    assert client.post("/api-keys/", data={"name": "Mine", "scope": "write"}).status_code == 403
    assert client.post(f"/api-keys/{key.id}/revoke").status_code == 403
    db.session.refresh(key)
    assert key.revoked_at is None
    assert db.session.scalar(select(ApiKey).where(ApiKey.name == "Mine")) is None


def test_anonymous_visitor_is_sent_to_log_in(client):
    response = client.get("/api-keys/")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]
