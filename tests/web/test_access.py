"""Who may see and change what: admins everything, managers their reporting line,
members themselves. Checked on the pages and in the services."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from core.exceptions import NotFound, PermissionDenied
from core.extensions import db
from org import services
from org.models import AuditEvent, Team, User, Vendor
from tests.factories import Factory
from tests.web.apps import isolated_requests
from tests.web.page import visible_text

# Endpoints of the org package that write but are open to every logged-in person.
SELF_SERVICE = {"org.login", "org.logout", "org.change_password"}
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


@pytest.fixture(autouse=True)
def _isolated_requests(app):
    with isolated_requests(app):
        yield


@pytest.fixture
def org(factory):
    """An organisation with a three-level reporting line under ``boss``.

    boss (manager)
    ├── middle (manager)
    │   └── lead (manager)
    │       └── worker (member)
    └── assistant (member)
    peer (manager) ── peer_report (member)
    loner (member, no supervisor); admin
    """
    admin = factory.admin(display_name="Ada Admin")
    boss = factory.manager(display_name="Bea Boss")
    middle = factory.manager(display_name="Max Middle", supervisor=boss)
    lead = factory.manager(display_name="Lea Lead", supervisor=middle)
    worker = factory.user(display_name="Wu Worker", supervisor=lead)
    assistant = factory.user(display_name="Abe Assistant", supervisor=boss)
    peer = factory.manager(display_name="Pia Peer")
    peer_report = factory.user(display_name="Pat PeerReport", supervisor=peer)
    loner = factory.user(display_name="Lou Loner")
    return SimpleNamespace(
        admin=admin, boss=boss, middle=middle, lead=lead, worker=worker, assistant=assistant,
        peer=peer, peer_report=peer_report, loner=loner,
        everyone=[admin, boss, middle, lead, worker, assistant, peer, peer_report, loner],
    )


def client_for(app, user):
    client = app.test_client()
    response = client.post("/login", data={"email": user.email, "password": Factory.PASSWORD})
    assert response.status_code == 302
    return client


def people_listed(response) -> set[str]:
    return set(re.findall(r"[\w.+-]+@example\.com", visible_text(response)))


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


# ----------------------------------------------------------------- lists


@pytest.mark.parametrize(
    ("role", "expected"),
    [("admin", 200), ("manager", 200), ("member", 403)],
)
@pytest.mark.parametrize("path", ["/people", "/teams", "/vendors"])
def test_lists_are_for_admins_and_managers(app, org, role, path, expected):
    user = {"admin": org.admin, "manager": org.boss, "member": org.worker}[role]

    response = client_for(app, user).get(path)

    assert response.status_code == expected
    if expected == 403:
        assert "You do not have permission to see this page." in visible_text(response)


def test_lists_send_anonymous_visitors_to_the_login_page(client):
    for path in ("/people", "/teams", "/vendors", "/people/1"):
        response = client.get(path)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login")


def test_admin_sees_everyone(app, org):
    listed = people_listed(client_for(app, org.admin).get("/people?status=all"))

    assert listed == {u.email for u in org.everyone}


def test_manager_sees_exactly_their_reporting_line_and_themselves(app, org):
    listed = people_listed(client_for(app, org.boss).get("/people?status=all"))

    assert listed == {u.email for u in (org.boss, org.middle, org.lead, org.worker, org.assistant)}


def test_middle_manager_sees_the_line_below_but_not_their_own_boss(app, org):
    client = client_for(app, org.middle)

    listed = people_listed(client.get("/people?status=all"))

    assert listed == {u.email for u in (org.middle, org.lead, org.worker)}
    assert client.get(f"/people/{org.boss.id}").status_code == 404


def test_manager_opens_pages_of_people_three_levels_down(app, org):
    client = client_for(app, org.boss)

    for person in (org.middle, org.lead, org.worker, org.assistant, org.boss):
        response = client.get(f"/people/{person.id}")
        assert response.status_code == 200, person
        assert person.display_name in visible_text(response)


@pytest.mark.parametrize("outsider", ["peer", "peer_report", "loner", "admin"])
def test_manager_gets_not_found_for_someone_outside_their_line(app, org, outsider):
    person = getattr(org, outsider)
    client = client_for(app, org.boss)

    response = client.get(f"/people/{person.id}")
    nobody = client.get("/people/999999")

    assert response.status_code == 404
    assert person.display_name not in visible_text(response)
    assert person.email not in response.get_data(as_text=True)
    assert visible_text(response) == visible_text(nobody)


def test_manager_detail_page_lists_only_visible_direct_reports(app, org):
    response = client_for(app, org.boss).get(f"/people/{org.middle.id}")

    text = visible_text(response)
    assert org.lead.display_name in text
    assert org.worker.display_name not in text  # not a direct report of middle


def test_manager_search_and_filters_stay_inside_the_line(app, org):
    client = client_for(app, org.boss)

    assert people_listed(client.get("/people?q=pia")) == set()
    assert people_listed(client.get("/people?role=manager&status=all")) == {
        org.boss.email, org.middle.email, org.lead.email
    }


def test_member_sees_only_their_own_page(app, org):
    client = client_for(app, org.worker)

    own = client.get(f"/people/{org.worker.id}")
    boss = client.get(f"/people/{org.lead.id}")
    colleague = client.get(f"/people/{org.assistant.id}")
    nobody = client.get("/people/999999")

    assert own.status_code == 200
    assert org.worker.email in visible_text(own)
    assert boss.status_code == colleague.status_code == nobody.status_code == 404
    assert visible_text(boss) == visible_text(colleague) == visible_text(nobody)


def test_member_home_page_shows_no_admin_or_manager_links(app, org):
    text = visible_text(client_for(app, org.worker).get("/"))

    for label in ("People", "Teams", "Vendors", "Import org chart", "API keys",
                  "My reporting line"):
        assert label not in text


# ----------------------------------------------------------------- admin writes


def _org_write_rules(app):
    """Every HTML rule of the org package that accepts a writing method."""
    rules = []
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        if not (view.__module__ or "").startswith("org."):
            continue
        if rule.rule.startswith("/api/"):
            continue  # the JSON API authenticates with API keys: tests/api
        if rule.methods & WRITE_METHODS and rule.endpoint not in SELF_SERVICE:
            rules.append(rule)
    return rules


def _url(rule, ids) -> str:
    return re.sub(r"<(?:[^:<>]+:)?(\w+)>", lambda m: str(ids.get(m.group(1), ids["*"])), rule.rule)


HOSTILE_FORM = {
    "active": "0",
    "email": "hijack@example.com",
    "display_name": "Hijacked",
    "role": "admin",
    "name": "Hijacked",
    "team_id": "",
    "vendor_id": "",
    "supervisor_id": "",
    "locale": "",
}


def test_url_map_enumeration_covers_the_known_admin_endpoints(app):
    endpoints = {rule.endpoint for rule in _org_write_rules(app)}

    assert endpoints >= {
        "org.user_new", "org.user_edit", "org.user_set_active", "org.user_reset_password",
        "org.team_form", "org.team_set_active", "org.vendor_form", "org.vendor_set_active",
    }
    assert not endpoints & SELF_SERVICE


@pytest.mark.parametrize("role", ["member", "manager"])
def test_every_admin_endpoint_refuses_members_and_managers_and_changes_nothing(
    app, factory, org, role
):
    actor = org.worker if role == "member" else org.boss
    target = org.worker if role == "manager" else org.assistant  # one they can see
    vendor = factory.vendor(name="Acme")
    team = factory.team(name="Support", vendor=vendor)
    ids = {"user_id": target.id, "team_id": team.id, "vendor_id": vendor.id, "*": target.id}
    before = (
        _count(User), _count(Team), _count(Vendor), _count(AuditEvent),
        target.password_hash, target.role, target.active, target.login_epoch, team.active,
        vendor.active, team.name, vendor.name,
    )
    client = client_for(app, actor)

    failures = []
    for rule in _org_write_rules(app):
        url = _url(rule, ids)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(url, method=method, data=HOSTILE_FORM)
            if response.status_code != 403:
                failures.append(f"{method} {url} ({rule.endpoint}): {response.status_code}")

    assert failures == []
    for obj in (target, team, vendor):
        db.session.refresh(obj)
    after = (
        _count(User), _count(Team), _count(Vendor), _count(AuditEvent),
        target.password_hash, target.role, target.active, target.login_epoch, team.active,
        vendor.active, team.name, vendor.name,
    )
    assert after == before
    assert is_still_logged_in(client)


def is_still_logged_in(client) -> bool:
    return client.get("/").status_code == 200


# ----------------------------------------------------------------- services
# Called inside a request, as the routes do (their messages are translated for
# the person asking); services outside a request: tests/web/test_people_admin.py.


@pytest.fixture
def in_request(app):
    with app.test_request_context():
        yield


def _ids(query) -> set[int]:
    return {u.id for u in db.session.scalars(query)}


def test_visible_users_per_role(org):
    everyone = {u.id for u in org.everyone}

    assert _ids(services.visible_users(org.admin)) >= everyone
    assert _ids(services.visible_users(org.boss)) == {
        org.boss.id, org.middle.id, org.lead.id, org.worker.id, org.assistant.id
    }
    assert _ids(services.visible_users(org.lead)) == {org.lead.id, org.worker.id}
    assert _ids(services.visible_users(org.peer)) == {org.peer.id, org.peer_report.id}
    assert _ids(services.visible_users(org.worker)) == {org.worker.id}


def test_manager_without_reports_sees_only_themselves(factory):
    manager = factory.manager()

    assert _ids(services.visible_users(manager)) == {manager.id}


def test_reporting_line_follows_deep_chains(factory):
    top = factory.manager()
    person, chain = top, []
    for _ in range(8):
        person = factory.user(role="manager", supervisor=person)
        chain.append(person.id)

    assert set(db.session.scalars(services.reporting_line_ids(top.id))) == set(chain)


@pytest.mark.usefixtures("in_request")
def test_get_user_for_hides_people_outside_the_line_as_not_found(org):
    assert services.get_user_for(org.boss, org.worker.id) == org.worker
    assert services.get_user_for(org.admin, org.peer_report.id) == org.peer_report
    assert services.get_user_for(org.worker, org.worker.id) == org.worker
    for actor, user in [
        (org.boss, org.peer_report), (org.boss, org.admin), (org.middle, org.boss),
        (org.worker, org.lead), (org.worker, org.assistant), (org.peer, org.worker),
    ]:
        with pytest.raises(NotFound):
            services.get_user_for(actor, user.id)
    with pytest.raises(NotFound):
        services.get_user_for(org.admin, 999999)


def test_deactivated_people_stay_in_their_managers_line(org):
    org.worker.active = False
    db.session.flush()

    assert org.worker.id in _ids(services.visible_users(org.boss))
    assert services.get_user_for(org.lead, org.worker.id) == org.worker


@pytest.mark.parametrize("role", ["member", "manager"])
@pytest.mark.usefixtures("in_request")
def test_admin_services_refuse_members_and_managers(factory, org, role):
    actor = org.worker if role == "member" else org.boss
    vendor = factory.vendor()
    team = factory.team(vendor=vendor)
    target = org.worker
    calls = [
        lambda: services.create_user(actor, email="new@example.com", display_name="New"),
        lambda: services.update_user(
            actor, target, email=target.email, display_name="Changed", role="admin",
            team_id=None, supervisor_id=None, locale=None,
        ),
        lambda: services.set_user_active(actor, target, False),
        lambda: services.reset_password(actor, target),
        lambda: services.create_team(actor, name="New team"),
        lambda: services.update_team(actor, team, name="Renamed", vendor_id=None),
        lambda: services.set_team_active(actor, team, False),
        lambda: services.create_vendor(actor, name="New vendor"),
        lambda: services.update_vendor(
            actor, vendor, name="Renamed", contact_name=None, contact_email=None,
            contract_start=None, contract_end=None,
        ),
        lambda: services.set_vendor_active(actor, vendor, False),
    ]
    audit_before = _count(AuditEvent)

    for call in calls:
        with pytest.raises(PermissionDenied):
            call()

    assert _count(AuditEvent) == audit_before
    assert target.role == "member" and target.active and team.active and vendor.active


@pytest.mark.usefixtures("in_request")
def test_team_and_vendor_lists_refuse_members_in_the_service(org):
    for search in (services.search_teams, services.search_vendors):
        with pytest.raises(PermissionDenied):
            search(org.worker)
        assert search(org.boss) is not None
