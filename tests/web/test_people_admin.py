"""The admin pages for people, teams and vendors: create, edit, deactivate,
search and filter; refused input says why next to the field and changes nothing."""

from __future__ import annotations

import re
from datetime import date

import pytest
from sqlalchemy import func, select

from core.extensions import db
from org.models import AuditEvent, Team, User, Vendor
from tests.factories import Factory
from tests.web.apps import isolated_requests
from tests.web.page import field_error, flashes, forms, main_form, visible_text

NEW_PASSWORD = "a much better passphrase"
HOSTILE_NAMES = ["<script>alert(1)</script>", '"><svg onload=alert(1)>', "{{7*7}}"]
ESCAPED = {
    "<script>alert(1)</script>": "&lt;script&gt;alert(1)&lt;/script&gt;",
    '"><svg onload=alert(1)>': "&gt;&lt;svg onload=alert(1)&gt;",
    "{{7*7}}": "{{7*7}}",
}
RAW_MARKUP = {
    "<script>alert(1)</script>": "<script>alert(1)</script>",
    '"><svg onload=alert(1)>': "<svg onload=alert(1)>",
    "{{7*7}}": ">49<",
}


@pytest.fixture(autouse=True)
def _isolated_requests(app):
    with isolated_requests(app):
        yield


@pytest.fixture
def admin(factory):
    return factory.admin(display_name="Ada Admin")


@pytest.fixture
def admin_client(app, admin):
    return login(app, admin)


def login(app, user, password=Factory.PASSWORD):
    client = app.test_client()
    response = client.post("/login", data={"email": user.email, "password": password})
    assert response.status_code == 302, visible_text(response)
    return client


def rows() -> tuple[int, int, int, int]:
    """How many people, teams, vendors and audit events there are."""
    return tuple(
        db.session.scalar(select(func.count()).select_from(model))
        for model in (User, Team, Vendor, AuditEvent)
    )


def person_form(**values) -> dict:
    data = {"email": "", "display_name": "", "role": "member", "team_id": "",
            "supervisor_id": "", "locale": ""}
    data.update({k: "" if v is None else str(v) for k, v in values.items()})
    return data


def edit_person(client, user, **changes):
    """Submit the person's edit form as a browser would, with some fields changed."""
    form = main_form(client.get(f"/people/{user.id}/edit"))
    data = {**form.values, **{k: "" if v is None else str(v) for k, v in changes.items()}}
    return client.post(f"/people/{user.id}/edit", data=data)


def temporary_password_on(response) -> str:
    match = re.search(
        r'data-testid="temporary-password"><code>([^<]+)</code>', response.get_data(as_text=True)
    )
    assert match, "no temporary password on the page"
    return match.group(1)


def emails_listed(response) -> set[str]:
    return set(re.findall(r"[\w.+-]+@example\.com", visible_text(response)))


def redirected_to(response) -> str:
    assert response.status_code == 302, visible_text(response)
    return response.headers["Location"]


# ----------------------------------------------------------------- people: create


def test_created_person_gets_a_temporary_password_shown_once(app, admin_client, factory):
    team = factory.team(name="Helpdesk")
    boss = factory.manager(display_name="Bea Boss")

    response = admin_client.post(
        "/people/new",
        data=person_form(email="New.Person@Example.com", display_name="New Person",
                         role="member", team_id=team.id, supervisor_id=boss.id, locale="zh_CN"),
    )

    assert response.status_code == 200
    temporary = temporary_password_on(response)
    person = db.session.scalar(select(User).where(User.email == "new.person@example.com"))
    assert (person.display_name, person.role, person.team, person.supervisor, person.locale) == (
        "New Person", "member", team, boss, "zh_CN"
    )
    assert person.must_change_password
    assert temporary not in admin_client.get(f"/people/{person.id}").get_data(as_text=True)

    client = app.test_client()
    first_login = client.post(
        "/login", data={"email": "new.person@example.com", "password": temporary}
    )
    assert redirected_to(first_login) == "/account/password"
    assert redirected_to(client.get("/")) == "/account/password"
    changed = client.post(
        "/account/password",
        data={"current_password": temporary, "new_password": NEW_PASSWORD,
              "confirm": NEW_PASSWORD},
    )
    assert redirected_to(changed) == "/"
    assert client.get("/").status_code == 200


@pytest.mark.parametrize("taken", ["a@example.com", "A@Example.com", "A@EXAMPLE.COM"])
def test_email_used_by_someone_else_in_any_case_is_refused_next_to_the_field(
    admin_client, factory, taken
):
    factory.user(email="a@example.com")
    before = rows()

    response = admin_client.post(
        "/people/new", data=person_form(email=taken, display_name="Twin")
    )

    assert response.status_code == 200
    assert field_error(response, "email") == "Someone already uses this email address."
    assert rows() == before


def test_changing_an_email_to_one_taken_in_other_case_is_refused(admin_client, factory):
    factory.user(email="a@example.com")
    other = factory.user(email="b@example.com")
    before = rows()

    response = edit_person(admin_client, other, email="A@Example.COM")

    assert field_error(response, "email") == "Someone already uses this email address."
    db.session.refresh(other)
    assert other.email == "b@example.com"
    assert rows() == before


def test_person_may_keep_their_own_email_in_another_case(admin_client, factory):
    person = factory.user(email="keep@example.com")

    response = edit_person(admin_client, person, email="Keep@Example.com", display_name="Kept")

    assert redirected_to(response) == f"/people/{person.id}"
    db.session.refresh(person)
    assert (person.email, person.display_name) == ("keep@example.com", "Kept")


@pytest.mark.parametrize(
    ("field", "value"),
    [("email", "not-an-email"), ("email", ""), ("display_name", ""), ("display_name", "x" * 201),
     ("role", "superuser"), ("role", "Admin"), ("team_id", "999999"), ("locale", "fr")],
)
def test_bad_person_input_is_refused_next_to_the_field(admin_client, factory, field, value):
    before = rows()
    data = person_form(email="fine@example.com", display_name="Fine")
    data[field] = value

    response = admin_client.post("/people/new", data=data)

    assert response.status_code == 200
    assert field_error(response, field)
    assert rows() == before


# ----------------------------------------------------------------- people: reporting line


@pytest.fixture
def chain(factory):
    """a ← b ← c: b reports to a, c reports to b."""
    a = factory.manager(display_name="A Top")
    b = factory.manager(display_name="B Middle", supervisor=a)
    c = factory.manager(display_name="C Bottom", supervisor=b)
    return a, b, c


def test_making_a_manager_report_to_someone_below_them_is_refused(admin_client, chain):
    a, _, c = chain
    before = rows()

    response = edit_person(admin_client, a, supervisor_id=c.id)

    assert field_error(response, "supervisor_id") == "This would make a loop in the reporting line."
    db.session.refresh(a)
    assert a.supervisor_id is None
    assert rows() == before


def test_direct_loop_of_two_is_refused(admin_client, chain):
    a, b, _ = chain

    response = edit_person(admin_client, a, supervisor_id=b.id)

    assert field_error(response, "supervisor_id") == "This would make a loop in the reporting line."
    db.session.refresh(a)
    assert a.supervisor_id is None


def test_nobody_can_be_their_own_supervisor(admin_client, chain):
    a, _, _ = chain
    form = main_form(admin_client.get(f"/people/{a.id}/edit"))
    before = rows()

    response = edit_person(admin_client, a, supervisor_id=a.id)

    assert str(a.id) not in form.selects["supervisor_id"]
    assert response.status_code == 200
    assert field_error(response, "supervisor_id")
    db.session.refresh(a)
    assert a.supervisor_id is None
    assert rows() == before


def test_moving_someone_within_the_line_is_allowed(admin_client, chain):
    a, _, c = chain

    response = edit_person(admin_client, c, supervisor_id=a.id)

    assert redirected_to(response) == f"/people/{c.id}"
    db.session.refresh(c)
    assert c.supervisor_id == a.id


# ----------------------------------------------------------------- people: own account


def test_admin_cannot_demote_themselves(admin_client, admin):
    before = rows()

    response = edit_person(admin_client, admin, role="member")

    assert field_error(response, "role") == "You cannot remove your own administrator role."
    db.session.refresh(admin)
    assert admin.role == "admin"
    assert rows() == before


def test_admin_cannot_deactivate_themselves(admin_client, admin):
    before = rows()

    response = admin_client.post(f"/people/{admin.id}/active", data={"active": "0"})

    page = admin_client.get(redirected_to(response))
    assert "You cannot deactivate yourself." in flashes(page)
    db.session.refresh(admin)
    assert admin.active
    assert rows() == before
    assert admin_client.get("/people").status_code == 200


def test_own_page_offers_no_deactivate_button(admin_client, admin):
    assert "Deactivate" not in visible_text(admin_client.get(f"/people/{admin.id}"))


# ----------------------------------------------------------------- people: deactivation


def test_deactivated_person_keeps_their_history(app, admin_client, factory):
    manager = factory.manager(display_name="Mo Manager", email="mo@example.com")
    report = factory.user(display_name="Rae Report", email="rae@example.com", supervisor=manager)

    response = admin_client.post(f"/people/{manager.id}/active", data={"active": "0"})

    after = admin_client.get(redirected_to(response))
    assert "Deactivated. Their history is kept." in flashes(after)
    assert "mo@example.com" not in emails_listed(admin_client.get("/people"))
    assert "mo@example.com" in emails_listed(admin_client.get("/people?status=inactive"))
    assert "rae@example.com" not in emails_listed(admin_client.get("/people?status=inactive"))
    assert {"mo@example.com", "rae@example.com"} <= emails_listed(
        admin_client.get("/people?status=all")
    )
    detail = visible_text(admin_client.get(f"/people/{manager.id}"))
    assert "Mo Manager Deactivated" in detail
    assert "Rae Report" in detail  # still listed as a direct report
    db.session.refresh(report)
    assert report.supervisor_id == manager.id
    assert "Mo Manager" in visible_text(admin_client.get(f"/people/{report.id}"))


def test_reactivated_person_can_log_in_again(app, admin_client, factory):
    person = factory.user(active=False)

    admin_client.post(f"/people/{person.id}/active", data={"active": "1"})

    db.session.refresh(person)
    assert person.active
    assert login(app, person).get("/").status_code == 200


def test_editing_a_report_of_a_deactivated_manager_keeps_their_supervisor(
    admin_client, factory
):
    manager = factory.manager(display_name="Gone Manager")
    report = factory.user(display_name="Old Name", supervisor=manager)
    admin_client.post(f"/people/{manager.id}/active", data={"active": "0"})

    response = edit_person(admin_client, report, display_name="New Name")

    assert redirected_to(response) == f"/people/{report.id}"
    db.session.refresh(report)
    assert (report.display_name, report.supervisor_id) == ("New Name", manager.id)


def test_editing_someone_whose_supervisor_is_a_member_keeps_the_supervisor(
    admin_client, factory
):
    # An org-chart import may make a member the supervisor of someone.
    senior = factory.user(display_name="Senior Member")
    junior = factory.user(display_name="Junior", supervisor=senior)

    response = edit_person(admin_client, junior, display_name="Junior Renamed")

    assert redirected_to(response) == f"/people/{junior.id}"
    db.session.refresh(junior)
    assert junior.supervisor_id == senior.id


# ----------------------------------------------------------------- people: search, filters, pages


@pytest.fixture
def people(factory):
    helpdesk = factory.team(name="Helpdesk")
    field = factory.team(name="Field Service")
    return {
        "alice": factory.user(display_name="Alice Wong", email="alice@example.com", team=helpdesk),
        "bob": factory.manager(display_name="Bob Li", email="bob.li@example.com", team=field),
        "chen": factory.user(display_name="Chen Jing", email="cj@example.com", team=helpdesk,
                             active=False),
        "dana": factory.user(display_name="Dana_Smith", email="dana@example.com"),
        "helpdesk": helpdesk,
        "field": field,
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("q=wong", {"alice@example.com"}),
        ("q=ALICE", {"alice@example.com"}),
        ("q=bob.li@", {"bob.li@example.com"}),
        ("q=  wong  ", {"alice@example.com"}),
        ("q=jing&status=all", {"cj@example.com"}),
        ("q=jing", set()),
        ("role=manager", {"bob.li@example.com"}),
        ("team={helpdesk}", {"alice@example.com"}),
        ("team={helpdesk}&status=all", {"alice@example.com", "cj@example.com"}),
        ("team={field}&role=member", set()),
        ("status=inactive", {"cj@example.com"}),
    ],
)
def test_search_and_filters_find_the_right_people(admin_client, admin, people, query, expected):
    query = query.format(helpdesk=people["helpdesk"].id, field=people["field"].id)

    listed = emails_listed(admin_client.get(f"/people?{query}")) - {admin.email}

    assert listed == expected


@pytest.mark.parametrize("wildcard", ["_", "%"])
def test_search_treats_wildcard_characters_literally(admin_client, admin, people, wildcard):
    listed = emails_listed(admin_client.get("/people", query_string={"q": wildcard}))

    expected = {"dana@example.com"} if wildcard == "_" else set()
    assert listed - {admin.email} == expected


def test_people_list_is_paginated(app, admin_client, admin, factory, monkeypatch):
    monkeypatch.setitem(app.config, "PAGE_SIZE", 2)
    for n in range(4):
        factory.user(display_name=f"Zed {n}", email=f"zed{n}@example.com")

    pages = [admin_client.get("/people", query_string={"q": "zed", "page": p}) for p in (1, 2, 3)]

    assert [emails_listed(p) for p in pages] == [
        {"zed0@example.com", "zed1@example.com"},
        {"zed2@example.com", "zed3@example.com"},
        set(),
    ]
    first = visible_text(pages[0])
    assert "4 people" in first
    assert "Page 1 of 2" in first
    assert 'rel="next"' in pages[0].get_data(as_text=True)
    assert "q=zed" in re.search(r'href="([^"]+)" rel="next"', pages[0].get_data(as_text=True))[1]
    assert emails_listed(admin_client.get("/people?q=zed&page=abc")) == emails_listed(pages[0])


# ----------------------------------------------------------------- teams and vendors


def test_admin_creates_renames_and_deactivates_a_team(admin_client, factory):
    vendor = factory.vendor(name="Acme Outsourcing")

    created = admin_client.post(
        "/teams/new", data={"name": "  Night Shift ", "vendor_id": vendor.id}
    )

    assert redirected_to(created) == "/teams"
    team = db.session.scalar(select(Team).where(Team.name == "Night Shift"))
    assert team.vendor == vendor
    listing = visible_text(admin_client.get("/teams"))
    assert "Night Shift" in listing and "Acme Outsourcing" in listing

    renamed = admin_client.post(f"/teams/{team.id}/edit", data={"name": "Late Shift",
                                                                "vendor_id": ""})
    assert redirected_to(renamed) == "/teams"
    db.session.refresh(team)
    assert (team.name, team.vendor) == ("Late Shift", None)

    admin_client.post(f"/teams/{team.id}/active", data={"active": "0"})
    db.session.refresh(team)
    assert not team.active
    assert "Late Shift" not in visible_text(admin_client.get("/teams"))
    assert "Late Shift" in visible_text(admin_client.get("/teams?status=inactive"))


def test_admin_creates_edits_and_deactivates_a_vendor(admin_client):
    created = admin_client.post(
        "/vendors/new",
        data={"name": "Acme", "contact_name": "Ann", "contact_email": "Ann@Acme.example",
              "contract_start": "2026-01-01", "contract_end": "2026-12-31"},
    )

    assert redirected_to(created) == "/vendors"
    vendor = db.session.scalar(select(Vendor).where(Vendor.name == "Acme"))
    assert (vendor.contact_email, vendor.contract_start, vendor.contract_end) == (
        "ann@acme.example", date(2026, 1, 1), date(2026, 12, 31)
    )
    edited = admin_client.post(
        f"/vendors/{vendor.id}/edit",
        data={"name": "Acme Ltd", "contact_name": "", "contact_email": "",
              "contract_start": "2026-01-01", "contract_end": ""},
    )
    assert redirected_to(edited) == "/vendors"
    db.session.refresh(vendor)
    assert (vendor.name, vendor.contact_name, vendor.contract_end) == ("Acme Ltd", None, None)

    admin_client.post(f"/vendors/{vendor.id}/active", data={"active": "0"})
    db.session.refresh(vendor)
    assert not vendor.active
    assert "Acme Ltd" not in visible_text(admin_client.get("/vendors"))
    assert "Acme Ltd" in visible_text(admin_client.get("/vendors?status=all"))


@pytest.mark.parametrize("kind", ["teams", "vendors"])
@pytest.mark.parametrize("name", ["support", "SUPPORT", "  Support  "])
def test_duplicate_name_in_any_case_is_refused_on_create(admin_client, factory, kind, name):
    getattr(factory, kind[:-1])(name="Support")
    before = rows()

    response = admin_client.post(f"/{kind}/new", data={"name": name})

    assert response.status_code == 200
    assert field_error(response, "name") == "This name is already taken."
    assert rows() == before


@pytest.mark.parametrize("kind", ["teams", "vendors"])
def test_renaming_to_a_taken_name_in_other_case_is_refused(admin_client, factory, kind):
    make = getattr(factory, kind[:-1])
    make(name="Support")
    other = make(name="Sales")
    before = rows()

    response = admin_client.post(f"/{kind}/{other.id}/edit", data={"name": "SUPPORT"})

    assert field_error(response, "name") == "This name is already taken."
    db.session.refresh(other)
    assert other.name == "Sales"
    assert rows() == before


def test_contract_ending_before_it_starts_is_refused(admin_client, factory):
    before = rows()

    response = admin_client.post(
        "/vendors/new",
        data={"name": "Backwards", "contract_start": "2026-06-01", "contract_end": "2026-05-31"},
    )

    assert field_error(response, "contract_end") == "The contract cannot end before it starts."
    assert rows() == before

    vendor = factory.vendor(name="Forwards", contract_start=date(2026, 1, 1))
    before = rows()
    response = admin_client.post(
        f"/vendors/{vendor.id}/edit",
        data={"name": "Forwards", "contract_start": "2026-01-01", "contract_end": "2025-12-31"},
    )
    assert field_error(response, "contract_end") == "The contract cannot end before it starts."
    db.session.refresh(vendor)
    assert vendor.contract_end is None
    assert rows() == before


@pytest.mark.parametrize(
    ("kind", "data", "field"),
    [
        ("vendors", {"name": ""}, "name"),
        ("vendors", {"name": "V", "contact_email": "not-an-email"}, "contact_email"),
        ("vendors", {"name": "V", "contract_start": "31/12/2026"}, "contract_start"),
        ("teams", {"name": "   "}, "name"),
        ("teams", {"name": "T", "vendor_id": "999999"}, "vendor_id"),
        ("teams", {"name": "x" * 201}, "name"),
    ],
)
def test_bad_team_or_vendor_input_is_refused_next_to_the_field(admin_client, kind, data, field):
    before = rows()

    response = admin_client.post(f"/{kind}/new", data=data)

    assert response.status_code == 200
    assert field_error(response, field)
    assert rows() == before


# ----------------------------------------------------------------- hostile names


def _assert_shown_escaped(response, name):
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert RAW_MARKUP[name] not in html
    assert ESCAPED[name] in html
    shown = [visible_text(response)] + [v for f in forms(response) for v in f.values.values()]
    assert any(name in text for text in shown)


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_team_and_vendor_names_are_shown_as_text(admin_client, factory, name):
    admin_client.post("/vendors/new", data={"name": name})
    vendor = db.session.scalar(select(Vendor).where(Vendor.name == name))
    admin_client.post("/teams/new", data={"name": name, "vendor_id": vendor.id})
    team = db.session.scalar(select(Team).where(Team.name == name))
    member = factory.user(team=team)

    for path in (
        "/teams", "/vendors", f"/teams/{team.id}/edit", f"/vendors/{vendor.id}/edit",
        f"/people/{member.id}", f"/people?team={team.id}", f"/people/{member.id}/edit",
    ):
        _assert_shown_escaped(admin_client.get(path), name)


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_person_names_are_shown_as_text(app, admin_client, factory, name):
    response = admin_client.post(
        "/people/new", data=person_form(email="hostile@example.com", display_name=name,
                                        role="manager")
    )
    _assert_shown_escaped(response, name)  # the temporary-password page names them
    person = db.session.scalar(select(User).where(User.email == "hostile@example.com"))
    report = factory.user(supervisor=person)

    for path in ("/people", f"/people/{person.id}", f"/people/{report.id}",
                 f"/people/{report.id}/edit"):
        _assert_shown_escaped(admin_client.get(path), name)
    person.must_change_password = False
    db.session.flush()
    own = app.test_client()
    own.post("/login", data={"email": person.email, "password": temporary_password_on(response)})
    _assert_shown_escaped(own.get("/"), name)


# ----------------------------------------------------------------- services outside a request


def test_create_admin_command_reports_bad_input_cleanly(app):
    before = rows()

    result = app.test_cli_runner().invoke(
        args=["orbit", "create-admin", "--email", "not-an-email", "--name", "Root",
              "--password", NEW_PASSWORD],
    )

    assert result.exit_code == 1
    assert "This is not a valid email address." in result.output
    assert rows() == before


def test_create_admin_command_creates_an_administrator(app):
    result = app.test_cli_runner().invoke(
        args=["orbit", "create-admin", "--email", "Root@Example.com", "--name", "Root",
              "--password", NEW_PASSWORD],
    )

    assert result.exit_code == 0, result.output
    root = db.session.scalar(select(User).where(User.email == "root@example.com"))
    assert root.role == "admin" and root.password_hash.startswith("$argon2id$")
