"""The JSON API under /api/v1: document, docs page, API-key authentication,
scopes, the error shape, and people, teams and vendors through the services."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select

from core.extensions import db
from org import apikeys
from org.models import AuditEvent, User
from tests.web.apps import isolated_requests, sibling_app

ERROR_KEYS = {"code", "status", "message"}


@pytest.fixture(autouse=True)
def _isolated_requests(app):
    with isolated_requests(app):
        yield


@pytest.fixture
def admin(factory):
    return factory.admin()


@pytest.fixture
def write_key(admin):
    key, plaintext = apikeys.create_api_key(admin, "HR sync", "write")
    db.session.flush()
    return key, plaintext


@pytest.fixture
def read_key(admin):
    key, plaintext = apikeys.create_api_key(admin, "Dashboard", "read")
    db.session.flush()
    return key, plaintext


@pytest.fixture
def writer(client, write_key):
    return _Caller(client, write_key[1])


@pytest.fixture
def reader(client, read_key):
    return _Caller(client, read_key[1])


@pytest.fixture
def anonymous(client):
    return _Caller(client, None)


class _Caller:
    """The test client, with an API key in the Authorization header if given.

    The test's data is committed first, as it would be in real life: the API
    rolls back its transaction after an error, which would otherwise undo the
    test's own (flushed) set-up.
    """

    def __init__(self, client, plaintext):
        self.client = client
        self.headers = {"Authorization": f"Bearer {plaintext}"} if plaintext else {}

    def __getattr__(self, method):
        def call(url, **kw):
            db.session.commit()
            headers = {**self.headers, **kw.pop("headers", {})}
            return getattr(self.client, method)(url, headers=headers, **kw)

        return call


def assert_error(response, code, *, field=None):
    """The one JSON error shape: code, status, message (and errors for bad input)."""
    assert response.status_code == code, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert ERROR_KEYS <= set(body) <= ERROR_KEYS | {"errors"}
    assert body["code"] == code
    assert isinstance(body["status"], str) and body["status"]
    assert isinstance(body["message"], str) and body["message"]
    if field is not None:
        assert field in body["errors"], body
        assert all(isinstance(m, str) for m in body["errors"][field])
    return body


# ----------------------------------------------------------------- the document and docs


def test_openapi_document_is_valid_openapi_3(client):
    from openapi_spec_validator import validate

    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    spec = response.get_json()
    validate(spec)
    assert spec["openapi"].startswith("3.")


def test_openapi_document_lists_the_endpoints_and_the_key_schemes(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    paths = spec["paths"]
    for resource, param in (("people", "person_id"), ("teams", "team_id"),
                            ("vendors", "vendor_id")):
        assert {"get", "post"} <= set(paths[f"/api/v1/{resource}"])
        assert {"get", "patch"} <= set(paths[f"/api/v1/{resource}/{{{param}}}"])
        assert "post" in paths[f"/api/v1/{resource}/{{{param}}}/deactivate"]
        assert "post" in paths[f"/api/v1/{resource}/{{{param}}}/reactivate"]
    schemes = spec["components"]["securitySchemes"]
    assert (schemes["bearerAuth"]["type"], schemes["bearerAuth"]["scheme"]) == ("http", "bearer")
    assert schemes["apiKeyHeader"]["name"] == "X-API-Key"
    assert {"bearerAuth": []} in spec["security"]
    assert {"people", "teams", "vendors"} <= {t["name"] for t in spec["tags"]}
    post = paths["/api/v1/people"]["post"]
    assert {"400", "401", "403", "422"} <= set(post["responses"])
    # passwords never appear in the API
    user = spec["components"]["schemas"]["User"]["properties"]
    assert "password_hash" not in user and "login_epoch" not in user
    assert "password" not in spec["components"]["schemas"]["UserCreate"]["properties"]


def test_docs_page_renders_swagger_ui_from_local_assets_only(client):
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'data-spec-url="/api/v1/openapi.json"' in html
    assert "<script>" not in html  # no inline script: the CSP forbids it
    urls = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert urls and not [u for u in urls if re.match(r"(https?:)?//", u)]
    for url in urls:
        if url.endswith((".js", ".css")):
            assert client.get(url).status_code == 200, url
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]


def test_docs_assets_serve_only_what_the_page_needs(client):
    assert client.get("/api/v1/docs/assets/swagger-ui-bundle.js").status_code == 200
    assert_error(client.get("/api/v1/docs/assets/index.html"), 404)


# ----------------------------------------------------------------- authentication


def test_request_without_key_gets_401_with_the_error_shape(anonymous):
    response = anonymous.get("/api/v1/people")
    assert_error(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "authorization",
    ["Bearer nonsense", "Bearer orb_abc_def", "Basic dXNlcjpwYXNz", "Bearer ", "orb_x_y"],
)
def test_malformed_or_unknown_key_gets_401(anonymous, write_key, authorization):
    response = anonymous.get("/api/v1/people", headers={"Authorization": authorization})
    assert_error(response, 401)


def test_key_with_a_wrong_secret_gets_401(anonymous, write_key):
    plaintext = write_key[1]
    tampered = plaintext[:-4] + ("AAAA" if not plaintext.endswith("AAAA") else "BBBB")
    response = anonymous.get("/api/v1/people", headers={"Authorization": f"Bearer {tampered}"})
    assert_error(response, 401)
    assert anonymous.get("/api/v1/people", headers={"X-API-Key": plaintext}).status_code == 200


def test_revoked_key_gets_401(writer, admin, write_key):
    assert writer.get("/api/v1/people").status_code == 200
    apikeys.revoke_api_key(admin, write_key[0])
    assert_error(writer.get("/api/v1/people"), 401)


def test_key_may_also_come_in_x_api_key_header(anonymous, read_key):
    response = anonymous.get("/api/v1/people", headers={"X-API-Key": read_key[1]})
    assert response.status_code == 200


def test_session_cookie_alone_does_not_authenticate_the_api(login_as, admin, anonymous):
    client = login_as(admin)
    assert client.get("/people").status_code == 200  # logged in for the HTML pages
    assert_error(anonymous.get("/api/v1/people"), 401)
    assert_error(anonymous.post("/api/v1/teams", json={"name": "Sneaky"}), 401)


def test_read_key_can_read_but_not_write(reader, admin):
    assert reader.get("/api/v1/people").status_code == 200
    assert reader.get(f"/api/v1/people/{admin.id}").status_code == 200
    body = assert_error(
        reader.post("/api/v1/people", json={"email": "x@example.com", "display_name": "X"}), 403
    )
    assert "read" in body["message"]
    assert_error(reader.patch(f"/api/v1/people/{admin.id}", json={"display_name": "Y"}), 403)
    assert_error(reader.post(f"/api/v1/people/{admin.id}/deactivate"), 403)
    assert db.session.scalar(select(User).where(User.email == "x@example.com")) is None


def test_last_used_time_is_recorded_at_most_once_a_minute(reader, read_key):
    key = read_key[0]
    assert key.last_used_at is None
    reader.get("/api/v1/people")
    db.session.refresh(key)
    first = key.last_used_at
    assert first is not None
    reader.get("/api/v1/people")
    db.session.refresh(key)
    assert key.last_used_at == first


# ----------------------------------------------------------------- people


def test_write_key_creates_a_person_and_the_audit_trail_names_the_key(writer, write_key, factory):
    team = factory.team(name="Service desk")
    response = writer.post(
        "/api/v1/people",
        json={"email": "Li.Na@Example.com", "display_name": "李娜", "team_id": team.id,
              "locale": "zh_CN"},
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["email"] == "li.na@example.com"
    assert body["role"] == "member" and body["team_id"] == team.id and body["active"] is True
    assert response.headers["Location"].endswith(f"/api/v1/people/{body['id']}")
    assert "password_hash" not in body and "login_epoch" not in body
    user = db.session.get(User, body["id"])
    assert user.display_name == "李娜"
    event = db.session.scalar(
        select(AuditEvent).where(
            AuditEvent.action == "user.create", AuditEvent.object_id == user.id
        )
    )
    assert event.api_key_id == write_key[0].id
    assert event.actor_id is None


def test_get_person_and_unknown_person(writer, admin):
    body = writer.get(f"/api/v1/people/{admin.id}").get_json()
    assert body["email"] == admin.email
    assert body["created_at"].endswith("+00:00")
    assert_error(writer.get("/api/v1/people/999999"), 404)
    assert_error(writer.patch("/api/v1/people/999999", json={"display_name": "X"}), 404)


def test_patch_changes_only_the_fields_sent(writer, factory):
    team = factory.team()
    boss = factory.manager()
    person = factory.user(team=team, supervisor=boss, locale="en")
    response = writer.patch(f"/api/v1/people/{person.id}", json={"display_name": "New Name"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["display_name"] == "New Name"
    assert (body["team_id"], body["supervisor_id"], body["locale"]) == (team.id, boss.id, "en")
    response = writer.patch(f"/api/v1/people/{person.id}", json={"team_id": None})
    assert response.get_json()["team_id"] is None
    db.session.refresh(person)
    assert person.team_id is None and person.supervisor_id == boss.id


def test_patch_with_an_email_in_use_gets_400_with_errors_email(writer, factory):
    factory.user(email="taken@example.com")
    person = factory.user(email="mine@example.com")
    response = writer.patch(f"/api/v1/people/{person.id}", json={"email": "TAKEN@example.com"})
    assert_error(response, 400, field="email")
    db.session.refresh(person)
    assert person.email == "mine@example.com"


def test_reporting_line_loop_is_refused(writer, factory):
    boss = factory.manager()
    report = factory.user(supervisor=boss)
    response = writer.patch(f"/api/v1/people/{boss.id}", json={"supervisor_id": report.id})
    assert_error(response, 400, field="supervisor_id")


def test_invalid_json_gets_400_in_the_error_shape(writer):
    response = writer.post(
        "/api/v1/people", data="{not json", headers={"Content-Type": "application/json"}
    )
    assert_error(response, 400, field="json")


def test_wrong_types_and_unknown_fields_get_422_per_field(writer):
    response = writer.post(
        "/api/v1/people",
        json={"email": "not-an-email", "display_name": 5, "team_id": "3", "role": "boss"},
    )
    body = assert_error(response, 422)
    assert {"email", "display_name", "team_id", "role"} <= set(body["errors"])
    response = writer.post(
        "/api/v1/people",
        json={"email": "a@example.com", "display_name": "A", "password_hash": "x"},
    )
    assert_error(response, 422, field="password_hash")
    assert_error(writer.post("/api/v1/people", json={}), 422, field="email")
    assert_error(writer.get("/api/v1/people?page_size=1000"), 422, field="page_size")


def test_deactivate_and_reactivate_a_person(writer, factory):
    person = factory.user()
    response = writer.post(f"/api/v1/people/{person.id}/deactivate")
    assert response.status_code == 200 and response.get_json()["active"] is False
    db.session.refresh(person)
    assert person.active is False
    response = writer.post(f"/api/v1/people/{person.id}/reactivate")
    assert response.get_json()["active"] is True
    assert_error(writer.post("/api/v1/people/999999/deactivate"), 404)


def test_people_list_is_paginated_with_the_x_pagination_header(writer, factory):
    for n in range(5):
        factory.user(display_name=f"Zed {n}", email=f"zed{n}@example.com")
    response = writer.get("/api/v1/people?q=zed&page=2&page_size=2")
    assert response.status_code == 200
    assert [p["display_name"] for p in response.get_json()] == ["Zed 2", "Zed 3"]
    meta = json.loads(response.headers["X-Pagination"])
    assert meta == {"total": 5, "total_pages": 3, "first_page": 1, "last_page": 3, "page": 2,
                    "previous_page": 1, "next_page": 3}
    beyond = writer.get("/api/v1/people?q=zed&page=9&page_size=2")
    assert beyond.status_code == 200 and beyond.get_json() == []


def test_people_list_filters_by_role_team_and_active(writer, factory):
    team = factory.team()
    member = factory.user(team=team)
    manager = factory.manager(team=team)
    gone = factory.user(team=team, active=False)

    def ids(query):
        response = writer.get(f"/api/v1/people?team_id={team.id}&{query}")
        assert response.status_code == 200
        return {p["id"] for p in response.get_json()}

    assert ids("") == {member.id, manager.id, gone.id}
    assert ids("role=manager") == {manager.id}
    assert ids("active=true") == {member.id, manager.id}
    assert ids("active=false") == {gone.id}
    assert_error(writer.get("/api/v1/people?role=boss"), 422, field="role")


# ----------------------------------------------------------------- teams and vendors


def test_teams_create_read_update_deactivate(writer, factory):
    vendor = factory.vendor()
    response = writer.post("/api/v1/teams", json={"name": "Night shift", "vendor_id": vendor.id})
    assert response.status_code == 201
    team_id = response.get_json()["id"]
    assert writer.get(f"/api/v1/teams/{team_id}").get_json()["vendor_id"] == vendor.id
    body = writer.patch(f"/api/v1/teams/{team_id}", json={"vendor_id": None}).get_json()
    assert (body["name"], body["vendor_id"]) == ("Night shift", None)
    assert writer.post(f"/api/v1/teams/{team_id}/deactivate").get_json()["active"] is False
    listed = writer.get("/api/v1/teams?active=false&q=night").get_json()
    assert [t["id"] for t in listed] == [team_id]
    assert_error(writer.post("/api/v1/teams", json={"name": "NIGHT SHIFT"}), 400, field="name")
    assert_error(writer.post("/api/v1/teams", json={"name": "X", "vendor_id": 999999}), 400,
                 field="vendor_id")
    assert_error(writer.get("/api/v1/teams/999999"), 404)


def test_vendors_create_with_contract_dates(writer):
    response = writer.post(
        "/api/v1/vendors",
        json={"name": "Acme", "contact_email": "ops@acme.example",
              "contract_start": "2025-01-01", "contract_end": "2025-12-31"},
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert (body["contract_start"], body["contract_end"]) == ("2025-01-01", "2025-12-31")
    response = writer.patch(f"/api/v1/vendors/{body['id']}", json={"contract_end": "2024-06-30"})
    assert_error(response, 400, field="contract_end")
    response = writer.patch(f"/api/v1/vendors/{body['id']}", json={"contract_end": "soon"})
    assert_error(response, 422, field="contract_end")
    response = writer.patch(f"/api/v1/vendors/{body['id']}", json={"contact_name": "Wang Wei"})
    assert response.get_json()["contract_end"] == "2025-12-31"
    assert writer.get("/api/v1/vendors?q=acm").get_json()[0]["contact_name"] == "Wang Wei"


def test_reads_are_also_paginated_for_teams_and_vendors(reader, factory):
    factory.team()
    factory.vendor()
    for url in ("/api/v1/teams", "/api/v1/vendors"):
        response = reader.get(url)
        assert response.status_code == 200
        assert json.loads(response.headers["X-Pagination"])["total"] >= 1


# ----------------------------------------------------------------- the one error shape


def test_unknown_api_path_and_wrong_method_use_the_error_shape(writer, anonymous):
    assert_error(anonymous.get("/api/v1/nothing-here"), 404)
    assert_error(writer.get("/api/v1/people/not-a-number"), 404)
    response = writer.delete("/api/v1/people")
    assert_error(response, 405)
    assert "GET" in response.headers["Allow"]


def test_too_many_requests_get_429_in_the_error_shape(app, read_key):
    db.session.commit()
    with sibling_app(app, RATELIMIT_ENABLED=True, API_RATE_LIMIT="2 per minute") as limited:
        client = limited.test_client()
        client.environ_base["REMOTE_ADDR"] = "10.9.8.7"
        headers = {"X-API-Key": read_key[1]}
        statuses = [client.get("/api/v1/teams", headers=headers).status_code for _ in range(3)]
        assert statuses == [200, 200, 429]
        response = client.get("/api/v1/people", headers=headers)
    assert_error(response, 429)
    assert "Retry-After" in response.headers


def test_failed_request_changes_nothing(writer, factory):
    person = factory.user(display_name="Before")
    response = writer.patch(
        f"/api/v1/people/{person.id}", json={"display_name": "After", "supervisor_id": 999999}
    )
    assert_error(response, 400, field="supervisor_id")
    db.session.refresh(person)
    assert person.display_name == "Before"
