"""Org-chart import: parsing, row-by-row validation, applying, and the upload pages."""

from __future__ import annotations

import codecs
import csv
import io
import json
import re

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from core.exceptions import PermissionDenied, ServiceError
from core.extensions import db
from org import orgchart
from org.models import AuditEvent, Team, User, Vendor
from tests.web.apps import isolated_requests

HEADER = ["email", "name", "role", "team", "vendor", "supervisor_email"]


# ----------------------------------------------------------------- helpers


def csv_bytes(rows, header=HEADER, *, encoding="utf-8", delimiter=",", bom=False) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    data = out.getvalue().encode(encoding)
    return (codecs.BOM_UTF8 + data) if bom else data


def xlsx_bytes(rows, header=HEADER) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(header)
    for row in rows:
        sheet.append(list(row))
    workbook.create_sheet("Ignored").append(["email", "name"])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def totals() -> tuple[int, int, int]:
    return tuple(
        db.session.scalar(select(func.count()).select_from(model)) for model in (User, Team, Vendor)
    )


def user(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == email))


def upload(client, data: bytes, filename: str = "people.csv"):
    return client.post(
        "/org-chart/import",
        data={"file": (io.BytesIO(data), filename)},
        content_type="multipart/form-data",
    )


def token_in(response) -> str | None:
    """The confirmation token of a preview page (None: no import offered)."""
    tag = re.search(r'<input[^>]*name="token"[^>]*>', response.get_data(as_text=True))
    return re.search(r'value="([^"]+)"', tag.group(0)).group(1) if tag else None


def confirm(client, token: str):
    return client.post("/org-chart/import/confirm", data={"token": token})


def import_over_http(client, data: bytes, filename: str = "people.csv"):
    preview = upload(client, data, filename)
    assert preview.status_code == 200
    token = token_in(preview)
    assert token, preview.get_data(as_text=True)
    response = confirm(client, token)
    assert response.status_code == 302, response.get_data(as_text=True)
    return response


def row_html(page: str, row: int) -> str:
    """The <tr> of the preview table for spreadsheet row ``row``."""
    match = re.search(rf'<tr id="row-{row}"[^>]*>.*?</tr>', page, re.S)
    assert match, f"row {row} not in the preview"
    return match.group(0)


@pytest.fixture(autouse=True)
def _isolated_requests(app):
    with isolated_requests(app):
        yield


@pytest.fixture(autouse=True)
def _import_dir(app, tmp_path, monkeypatch):
    """Keep pending imports of each test in its own folder."""
    monkeypatch.setitem(app.config, "ORGCHART_IMPORT_DIR", str(tmp_path / "imports"))
    return tmp_path / "imports"


@pytest.fixture
def request_ctx(app):
    """Messages are lazy translations: render them as in a request (English)."""
    with app.test_request_context():
        yield


@pytest.fixture
def admin(factory):
    return factory.admin(email="admin@example.com", display_name="Admin")


@pytest.fixture
def admin_client(admin, login_as):
    return login_as(admin)


def plan_for(actor, rows, header=HEADER):
    return orgchart.build_plan(actor, orgchart.parse_file("people.csv", csv_bytes(rows, header)))


def messages(plan) -> dict[int, list[str]]:
    return {row: [str(m) for m in msgs] for row, msgs in plan.errors.items()}


ORG_ROWS = [
    ["li.na@example.com", "李娜", "manager", "Service Desk", "Acme Outsourcing", ""],
    ["wang.wei@example.com", "王伟", "member", "Service Desk", "Acme Outsourcing",
     "li.na@example.com"],
    ["sam@example.com", "Sam Stone", "", "Platform", "", "li.na@example.com"],
]


def assert_org_imported():
    li, wang, sam = user("li.na@example.com"), user("wang.wei@example.com"), user("sam@example.com")
    assert (li.display_name, li.role, li.supervisor_id) == ("李娜", "manager", None)
    assert (wang.display_name, wang.role, wang.supervisor_id) == ("王伟", "member", li.id)
    assert (sam.role, sam.supervisor_id) == ("member", li.id)
    assert li.team.name == wang.team.name == "Service Desk"
    assert li.team.vendor.name == "Acme Outsourcing"
    assert sam.team.name == "Platform" and sam.team.vendor is None


# ----------------------------------------------------------------- happy paths


def test_valid_csv_creates_people_teams_vendors_and_reporting_lines(admin_client, auth):
    before = totals()
    preview = upload(admin_client, csv_bytes(ORG_ROWS))
    page = preview.get_data(as_text=True)
    assert preview.status_code == 200
    assert "Import 3 rows" in page
    assert 'data-testid="count-create">3<' in page
    assert 'data-testid="count-teams">2' in page
    assert "row-error" not in page
    assert totals() == before  # the preview writes nothing

    response = confirm(admin_client, token_in(preview))
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/people")
    assert totals() == (before[0] + 3, before[1] + 2, before[2] + 1)
    assert_org_imported()

    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "org.import"))
    assert event.details["created"] == 3 and event.details["teams_created"] == 2
    assert event.actor_id == user("admin@example.com").id

    # Imported people have no password until an administrator resets it; then
    # they log in with the temporary one and must choose their own.
    wang = user("wang.wei@example.com")
    assert wang.password_hash is None
    follow = admin_client.get("/people")
    assert "3 new people cannot log in until you reset their password." in follow.get_data(
        as_text=True)
    reset = admin_client.post(f"/people/{wang.id}/reset-password")
    temporary = re.search(r'data-testid="temporary-password"><code>([^<]+)<',
                          reset.get_data(as_text=True)).group(1)
    auth.logout()
    assert auth.login("wang.wei@example.com", "wrong password!").status_code == 200
    response = auth.login("wang.wei@example.com", temporary)
    assert response.headers["Location"].endswith("/account/password")


def test_xlsx_import_gives_the_same_result(admin_client):
    before = totals()
    import_over_http(admin_client, xlsx_bytes(ORG_ROWS), "people.xlsx")
    assert totals() == (before[0] + 3, before[1] + 2, before[2] + 1)
    assert_org_imported()


def test_confirm_twice_imports_once(admin_client):
    preview = upload(admin_client, csv_bytes(ORG_ROWS))
    token = token_in(preview)
    assert confirm(admin_client, token).status_code == 302
    before = totals()
    again = confirm(admin_client, token)
    assert again.status_code == 302
    assert again.headers["Location"].endswith("/org-chart/import")
    assert totals() == before


def test_reimport_updates_people_in_place(admin_client, factory):
    old_team = factory.team(name="Old team")
    boss = factory.manager(email="boss@example.com")
    person = factory.user(email="pat@example.com", display_name="Pat", team=old_team,
                          supervisor=boss)
    password_hash, person_id = person.password_hash, person.id
    bystander = factory.user(email="bystander@example.com", display_name="Bystander",
                             team=old_team, supervisor=boss)
    before = totals()

    rows = [
        ["PAT@example.com", "Pat Li", "manager", "New team", "Acme", "new.boss@example.com"],
        ["new.boss@example.com", "New Boss", "manager", "", "", ""],
    ]
    preview = upload(admin_client, csv_bytes(rows))
    page = preview.get_data(as_text=True)
    assert "Pat → Pat Li" in row_html(page, 2)
    assert "boss@example.com → new.boss@example.com" in row_html(page, 2)
    confirm(admin_client, token_in(preview))

    person = db.session.get(User, person_id)
    assert (person.email, person.display_name, person.role) == ("pat@example.com", "Pat Li",
                                                                "manager")
    assert person.team.name == "New team" and person.team.vendor.name == "Acme"
    assert person.supervisor.email == "new.boss@example.com"
    assert person.password_hash == password_hash  # never touched
    # People who are not in the file are left alone.
    bystander = user("bystander@example.com")
    assert (bystander.display_name, bystander.team, bystander.supervisor, bystander.active) == (
        "Bystander", old_team, boss, True)
    assert totals() == (before[0] + 1, before[1] + 1, before[2] + 1)

    # The same file again: everything unchanged, nothing written.
    preview = upload(admin_client, csv_bytes(rows))
    assert 'data-testid="count-unchanged">2<' in preview.get_data(as_text=True)
    events = db.session.scalar(select(func.count()).select_from(AuditEvent))
    confirm(admin_client, token_in(preview))
    assert totals() == (before[0] + 1, before[1] + 1, before[2] + 1)
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == events + 1


def test_absent_columns_leave_existing_details_alone(admin, factory, request_ctx):
    team = factory.team(name="Keep me")
    boss = factory.manager(email="keep.boss@example.com")
    factory.user(email="kim@example.com", display_name="Kim", team=team, supervisor=boss,
                 role="manager")
    plan = plan_for(admin, [["kim@example.com", "Kim Renamed"]], header=["email", "name"])
    orgchart.apply_import(admin, plan)
    kim = user("kim@example.com")
    assert (kim.display_name, kim.role, kim.team, kim.supervisor) == (
        "Kim Renamed", "manager", team, boss)


def test_empty_cells_clear_team_and_supervisor_but_keep_role(admin, factory, request_ctx):
    team = factory.team(name="Ops")
    boss = factory.manager(email="ops.boss@example.com")
    factory.user(email="lee@example.com", display_name="Lee", team=team, supervisor=boss,
                 role="manager")
    plan = plan_for(admin, [["lee@example.com", "Lee", "", "", "", ""]])
    assert plan.rows[0].changes == [("team", "Ops", None),
                                    ("supervisor", "ops.boss@example.com", None)]
    orgchart.apply_import(admin, plan)
    lee = user("lee@example.com")
    assert (lee.role, lee.team, lee.supervisor) == ("manager", None, None)


def test_existing_teams_and_vendors_are_matched_without_regard_to_case(admin, factory,
                                                                        request_ctx):
    vendor = factory.vendor(name="Acme")
    team = factory.team(name="Service Desk", vendor=vendor)
    before = totals()
    plan = plan_for(admin, [
        ["a1@example.com", "A1", "", "service desk", "ACME", ""],
        ["a2@example.com", "A2", "", "SERVICE DESK", "", ""],
    ])
    assert plan.is_valid and plan.new_teams == [] and plan.new_vendors == []
    orgchart.apply_import(admin, plan)
    assert totals() == (before[0] + 2, before[1], before[2])
    assert user("a1@example.com").team == team == user("a2@example.com").team


def test_new_team_of_an_existing_vendor_uses_that_vendor(admin, factory, request_ctx):
    vendor = factory.vendor(name="Acme")
    plan = plan_for(admin, [["b1@example.com", "B1", "", "Night shift", "acme", ""]])
    assert plan.new_teams == [("Night shift", "Acme")] and plan.new_vendors == []
    orgchart.apply_import(admin, plan)
    assert user("b1@example.com").team.vendor == vendor


def test_chinese_roles_are_understood(admin, request_ctx):
    plan = plan_for(admin, [
        ["c1@example.com", "甲", "管理员", "", "", ""],
        ["c2@example.com", "乙", "经理", "", "", ""],
        ["c3@example.com", "丙", "成员", "", "", ""],
        ["c4@example.com", "丁", "Manager", "", "", ""],
    ])
    assert [r.role for r in plan.rows] == ["admin", "manager", "member", "manager"]


def test_deactivated_people_in_the_file_stay_deactivated(admin_client, factory):
    factory.user(email="gone@example.com", display_name="Gone", active=False)
    preview = upload(admin_client, csv_bytes([["gone@example.com", "Gone Again", "", "", "", ""]]))
    assert "stays deactivated" in row_html(preview.get_data(as_text=True), 2)
    confirm(admin_client, token_in(preview))
    gone = user("gone@example.com")
    assert gone.display_name == "Gone Again" and gone.active is False


# ----------------------------------------------------------------- encodings and formats


def test_csv_with_bom_and_chinese_headers(admin_client):
    header = ["邮箱", "姓名", "角色", "团队", "供应商", "上级邮箱"]
    rows = [["zhang@example.com", "张三", "经理", "客服一组", "华信外包", ""],
            ["li@example.com", "李四", "成员", "客服一组", "", "zhang@example.com"]]
    import_over_http(admin_client, csv_bytes(rows, header, bom=True))
    li = user("li@example.com")
    assert li.display_name == "李四" and li.supervisor.display_name == "张三"
    assert li.team.name == "客服一组" and li.team.vendor.name == "华信外包"


def test_gb18030_csv_with_semicolons(admin_client):
    header = [" 邮箱 ", "姓名", "团队"]
    data = csv_bytes([["wu@example.com", "吴芳", "质检组"]], header, encoding="gb18030",
                     delimiter=";")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    import_over_http(admin_client, data)
    assert user("wu@example.com").display_name == "吴芳"
    assert user("wu@example.com").team.name == "质检组"


def test_utf16_tab_separated_text_from_excel(admin, request_ctx):
    data = csv_bytes([["zhou@example.com", "周杰"]], ["Email", "NAME"], encoding="utf-16",
                     delimiter="\t")
    parsed = orgchart.parse_file("people.csv", data)
    assert parsed.rows[0].values == {"email": "zhou@example.com", "name": "周杰"}


def test_headers_are_trimmed_and_case_insensitive_and_unknown_columns_ignored(request_ctx):
    parsed = orgchart.parse_file(
        "people.csv", csv_bytes([["x@example.com", "X", "note"]], ["  EMAIL ", "Name", "Notes"])
    )
    assert parsed.columns == ("email", "name")
    assert parsed.ignored_columns == ("Notes",)


def test_excel_separator_hint_line_is_understood(request_ctx):
    data = b"sep=;\r\nemail;name\r\nx@example.com;X, Jr.\r\n"
    parsed = orgchart.parse_file("people.csv", data)
    assert parsed.rows[0].row == 2
    assert parsed.rows[0].values == {"email": "x@example.com", "name": "X, Jr."}


def test_xlsx_numbers_and_blank_rows_read_as_text(request_ctx):
    data = xlsx_bytes([["n@example.com", "N", None, 101.0, None, None], [None] * 6,
                       ["m@example.com", "M", None, 2024, None, None]])
    parsed = orgchart.parse_file("people.xlsx", data)
    assert [(r.row, r.values["team"]) for r in parsed.rows] == [(2, "101"), (4, "2024")]


def test_row_numbers_count_blank_lines_as_the_spreadsheet_does(admin, request_ctx):
    data = b"email,name,role\r\nok@example.com,Ok,\r\n\r\nbad@example.com,Bad,chief\r\n"
    plan = orgchart.build_plan(admin, orgchart.parse_file("people.csv", data))
    assert list(plan.errors) == [4]


# ----------------------------------------------------------------- row errors


@pytest.mark.parametrize(
    ("rows", "row", "message"),
    [
        ([["not-an-email", "X", "", "", "", ""]], 2, "“not-an-email” is not a valid email"),
        ([["", "X", "", "", "", ""]], 2, "The email address is missing."),
        ([["x@example.com", "", "", "", "", ""]], 2, "The name is missing."),
        ([["x@example.com", "x" * 201, "", "", "", ""]], 2, "longer than 200 characters"),
        ([["x@example.com", "X", "", "", "", ""], ["y@example.com", "Y", "", "", "", ""],
          ["X@Example.COM", "X again", "", "", "", ""]],
         4, "The email address x@example.com is already on row 2."),
        ([["x@example.com", "X", "chief", "", "", ""]], 2, "Unknown role “chief”"),
        ([["x@example.com", "X", "", "", "", "nobody@example.com"]], 2,
         "The supervisor nobody@example.com is neither in the file nor in Orbit."),
        ([["x@example.com", "X", "", "", "", "X@example.com"]], 2,
         "Nobody can be their own supervisor."),
        ([["x@example.com", "X", "", "", "Acme", ""]], 2, "A vendor is given without a team."),
        ([["x@example.com", "X", "", "Desk", "Acme", ""], ["y@example.com", "Y", "", "desk",
                                                             "Globex", ""]],
         3, "The team Desk belongs to Acme on row 2, not to Globex."),
        ([["admin@example.com", "Admin", "member", "", "", ""]], 2,
         "You cannot remove your own administrator role."),
    ],
    ids=["bad-email", "no-email", "no-name", "long-name", "duplicate-email-case", "bad-role",
         "unknown-supervisor", "own-supervisor", "vendor-without-team", "vendor-conflict-in-file",
         "self-demotion"],
)
def test_each_row_error_is_reported_on_its_row_and_nothing_is_written(
    admin, request_ctx, rows, row, message
):
    before = totals()
    plan = plan_for(admin, rows)
    errors = messages(plan)
    assert list(errors) == [row]
    assert any(message in m for m in errors[row]), errors
    assert plan.rows[row - 2].action == orgchart.ERROR
    with pytest.raises(ServiceError) as raised:
        orgchart.apply_import(admin, plan)
    assert list(raised.value.errors) == [row]
    assert totals() == before


def test_team_of_another_vendor_in_the_database_is_a_conflict(admin, factory, request_ctx):
    factory.team(name="Desk", vendor=factory.vendor(name="Acme"))
    factory.team(name="Home", vendor=None)
    plan = plan_for(admin, [["x@example.com", "X", "", "desk", "Globex", ""],
                            ["y@example.com", "Y", "", "Home", "Acme", ""]])
    assert messages(plan) == {
        2: ["The team Desk belongs to Acme, not to Globex."],
        3: ["The team Home is an in-house team, not a team of Acme."],
    }


def test_cycle_in_the_file_is_reported_on_every_row_of_the_loop(admin, request_ctx):
    plan = plan_for(admin, [
        ["a@example.com", "A", "", "", "", "c@example.com"],
        ["b@example.com", "B", "", "", "", "a@example.com"],
        ["c@example.com", "C", "", "", "", "b@example.com"],
        ["d@example.com", "D", "", "", "", "a@example.com"],  # below the loop, not in it
    ])
    errors = messages(plan)
    assert sorted(errors) == [2, 3, 4]
    assert errors[2] == ["The reporting line makes a loop: "
                         "a@example.com → c@example.com → b@example.com → a@example.com."]


def test_cycle_through_people_already_in_the_database(admin, factory, request_ctx):
    top = factory.manager(email="top@example.com")
    factory.user(email="middle@example.com", supervisor=top)
    # top -> new -> middle -> top: "middle" is only in the database.
    plan = plan_for(admin, [
        ["top@example.com", "Top", "manager", "", "", "new@example.com"],
        ["new@example.com", "New", "", "", "", "middle@example.com"],
    ])
    errors = messages(plan)
    assert sorted(errors) == [2, 3]
    assert "middle@example.com" in errors[2][0]
    before = totals()
    with pytest.raises(ServiceError):
        orgchart.apply_import(admin, plan)
    assert totals() == before
    assert user("top@example.com").supervisor_id is None


def test_a_very_long_loop_is_found_without_recursion(admin, request_ctx):
    n = 3000
    rows = [[f"p{i}@example.com", f"P{i}", "", "", "", f"p{(i + 1) % n}@example.com"]
            for i in range(n)]
    plan = plan_for(admin, rows)
    assert len(plan.errors) == n
    assert "…" in str(plan.errors[2][0])  # long chains are shortened


def test_a_long_valid_chain_imports(admin, request_ctx):
    n = 1200  # more than the chunk size of the lookups
    rows = [[f"q{i}@example.com", f"Q{i}", "", "", "", f"q{i - 1}@example.com" if i else ""]
            for i in range(n)]
    plan = plan_for(admin, rows)
    assert plan.is_valid
    result = orgchart.apply_import(admin, plan)
    assert result.created == n
    assert user(f"q{n - 1}@example.com").supervisor.email == f"q{n - 2}@example.com"


def test_preview_of_a_bad_file_marks_error_rows_and_offers_no_import(admin_client, factory):
    factory.user(email="taken@example.com")
    before = totals()
    rows = [
        ["ok@example.com", "Ok", "", "", "", ""],
        ["bad", "Bad email", "", "", "", ""],
        ["ok2@example.com", "Ok 2", "boss", "", "", ""],
        ["OK@example.com", "Duplicate", "", "", "", ""],
        ["ok3@example.com", "Ok 3", "", "", "", "ghost@example.com"],
    ]
    response = upload(admin_client, csv_bytes(rows))
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "4 rows have errors." in page
    assert token_in(response) is None and "confirm-import" not in page
    assert "row-error" not in row_html(page, 2)
    for row in (3, 4, 5, 6):
        assert 'class="row-error"' in row_html(page, row)
    assert "Row 5: The email address ok@example.com is already on row 2." in page
    assert totals() == before
    assert list((_import_dir_path(admin_client)).glob("*.json")) == []


def test_big_previews_list_every_error_row(admin_client, monkeypatch):

    monkeypatch.setattr(orgchart, "PREVIEW_ROW_LIMIT", 2)
    rows = [[f"s{i}@example.com", f"S{i}", "", "", "", ""] for i in range(5)]
    rows[3][2] = "chief"
    page = upload(admin_client, csv_bytes(rows)).get_data(as_text=True)
    assert 'class="row-error"' in row_html(page, 5)
    assert 'id="row-2"' in page and 'id="row-3"' not in page
    assert "Showing 2 of 5 rows" in page


def _import_dir_path(client):
    from pathlib import Path

    return Path(client.application.config["ORGCHART_IMPORT_DIR"])


# ----------------------------------------------------------------- whole-file errors


@pytest.mark.parametrize(
    ("data", "filename", "message"),
    [
        (b"", "people.csv", "The file is empty."),
        (b"\r\n\r\n", "people.csv", "The file is empty."),
        (b"email,name\r\n", "people.csv", "The file has a header row but nobody below it."),
        (b"email,role\r\nx@example.com,member\r\n", "people.csv", "“name” is missing"),
        (b"email,name,Email\r\nx@example.com,X,y\r\n", "people.csv",
         "The column “Email” appears twice"),
        (b"email,name\r\nx@example.com,X\r\n", "people.txt", "Upload a .csv or .xlsx file."),
        (b"\xd0\xcf\x11\xe0 old excel", "people.xls", "Upload a .csv or .xlsx file."),
        (b"email,name\r\nx@example.com,X\r\n", "people.xlsx",
         "This is not a valid Excel (.xlsx) file."),
        (b"PK\x03\x04 broken zip", "people.xlsx", "This is not a valid Excel (.xlsx) file."),
    ],
    ids=["empty", "blank-lines", "header-only", "missing-name-column", "duplicate-column",
         "wrong-type", "xls", "csv-named-xlsx", "broken-xlsx"],
)
def test_unusable_files_are_refused_with_a_message(admin_client, data, filename, message):
    before = totals()
    response = upload(admin_client, data, filename)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert message in page
    assert token_in(response) is None
    assert totals() == before


def test_old_excel_files_get_advice(request_ctx):
    with pytest.raises(ServiceError) as raised:
        orgchart.parse_file("people.xls", b"\xd0\xcf\x11\xe0 old excel")
    assert "Save the sheet as .xlsx or CSV." in str(raised.value.message)


def test_xlsx_that_unpacks_to_something_huge_is_refused(request_ctx, monkeypatch):
    monkeypatch.setattr(orgchart, "MAX_XLSX_UNPACKED_BYTES", 1000)
    with pytest.raises(ServiceError) as raised:
        orgchart.parse_file("people.xlsx", xlsx_bytes(ORG_ROWS))
    assert "too large" in str(raised.value.message)


def test_too_many_rows_are_refused(admin_client, monkeypatch):
    monkeypatch.setattr(orgchart, "MAX_ROWS", 3)
    rows = [[f"r{i}@example.com", f"R{i}", "", "", "", ""] for i in range(4)]
    response = upload(admin_client, csv_bytes(rows))
    assert "The file has more than 3 rows." in response.get_data(as_text=True)
    assert user("r0@example.com") is None


def test_too_large_file_is_refused(admin_client, monkeypatch):
    monkeypatch.setattr(orgchart, "MAX_FILE_BYTES", 2**20)
    data = csv_bytes([["big@example.com", "x" * (2**20)]])
    response = upload(admin_client, data)
    assert "The file is too large (at most 1 MB)." in response.get_data(as_text=True)


def test_upload_without_a_file_asks_for_one(admin_client):
    response = admin_client.post("/org-chart/import", data={},
                                 content_type="multipart/form-data")
    assert "Choose a CSV or Excel file." in response.get_data(as_text=True)


# ----------------------------------------------------------------- between preview and confirm


def test_supervisor_removed_after_preview_refuses_the_import(admin_client, factory):
    boss = factory.manager(email="leaving@example.com")
    preview = upload(admin_client, csv_bytes([["n@example.com", "N", "", "", "", boss.email]]))
    db.session.delete(boss)
    db.session.flush()
    before = totals()
    response = confirm(admin_client, token_in(preview))
    page = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "Nothing was imported" in page
    assert "The supervisor leaving@example.com is neither in the file nor in Orbit." in page
    assert token_in(response) is None
    assert totals() == before


def test_email_taken_after_preview_shows_the_new_preview_before_importing(admin_client,
                                                                          factory):
    preview = upload(admin_client, csv_bytes([["late@example.com", "Late", "", "", "", ""]]))
    token = token_in(preview)
    factory.user(email="late@example.com", display_name="Someone else")
    before = totals()

    response = confirm(admin_client, token)
    page = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "Something changed since the preview" in page
    assert "Someone else → Late" in row_html(page, 2)
    assert user("late@example.com").display_name == "Someone else"
    assert totals() == before

    # Confirming what is now shown works.
    assert confirm(admin_client, token_in(response)).status_code == 302
    assert user("late@example.com").display_name == "Late"
    assert totals() == before


def test_expired_preview_cannot_be_confirmed(admin_client, _import_dir):
    preview = upload(admin_client, csv_bytes(ORG_ROWS))
    token = token_in(preview)
    stored = _import_dir / f"{token}.json"
    content = json.loads(stored.read_text())
    content["created_at"] -= 3601
    stored.write_text(json.dumps(content))
    before = totals()
    response = confirm(admin_client, token)
    assert response.status_code == 302
    follow = admin_client.get(response.headers["Location"])
    assert "This preview has expired or is not yours." in follow.get_data(as_text=True)
    assert totals() == before


def test_another_admins_preview_cannot_be_confirmed(admin_client, admin, factory, auth,
                                                    login_as):
    preview = upload(admin_client, csv_bytes(ORG_ROWS))
    token = token_in(preview)
    other = factory.admin(email="other.admin@example.com")
    auth.logout()
    client = login_as(other)
    before = totals()
    response = confirm(client, token)
    assert response.headers["Location"].endswith("/org-chart/import")
    follow = client.get(response.headers["Location"])
    assert "This preview has expired or is not yours." in follow.get_data(as_text=True)
    assert totals() == before

    # The uploader still can.
    auth.logout()
    assert confirm(login_as(admin), token).status_code == 302
    assert totals() == (before[0] + 3, before[1] + 2, before[2] + 1)


@pytest.mark.parametrize("token", ["../../secret_key", "x" * 43, "a/b", "%2e%2e"])
def test_made_up_tokens_are_refused(admin_client, token):
    before = totals()
    response = confirm(admin_client, token)
    assert response.status_code == 302
    follow = admin_client.get(response.headers["Location"])
    assert "This preview has expired or is not yours." in follow.get_data(as_text=True)
    assert totals() == before


def test_confirm_without_a_token_is_a_bad_request(admin_client):
    assert admin_client.post("/org-chart/import/confirm", data={}).status_code == 400


def test_pending_imports_expire_and_belong_to_their_uploader(tmp_path, request_ctx):
    now = [1000.0]
    store = orgchart.PendingImports(tmp_path, ttl_seconds=3600, clock=lambda: now[0])
    parsed = orgchart.parse_file("p.csv", csv_bytes([["x@example.com", "X", "", "", "", ""]]))
    token = store.save(7, parsed, "digest")
    assert store.load(token, 7).parsed == parsed
    with pytest.raises(ServiceError):
        store.load(token, 8)
    now[0] += 3601
    with pytest.raises(ServiceError):
        store.load(token, 7)
    assert list(tmp_path.glob("*.json")) == []


# ----------------------------------------------------------------- access and safety


@pytest.mark.parametrize("role", ["member", "manager"])
def test_only_admins_may_import(factory, login_as, role):
    client = login_as(factory.user(role=role))
    before = totals()
    assert client.get("/org-chart/import").status_code == 403
    assert upload(client, csv_bytes(ORG_ROWS)).status_code == 403
    assert confirm(client, "x" * 43).status_code == 403
    assert client.get("/org-chart/import/template.csv").status_code == 403
    assert totals() == before


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get("/org-chart/import")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_services_refuse_non_admins(admin, factory, request_ctx):
    manager = factory.manager()
    parsed = orgchart.parse_file("p.csv", csv_bytes(ORG_ROWS))
    with pytest.raises(PermissionDenied):
        orgchart.build_plan(manager, parsed)
    plan = orgchart.build_plan(admin, parsed)
    before = totals()
    with pytest.raises(PermissionDenied):
        orgchart.apply_import(manager, plan)
    assert totals() == before


def test_hostile_content_is_escaped_in_the_preview(admin_client):
    rows = [
        ["x@example.com", "<script>alert(1)</script>", "", "<b>team</b>", "", ""],
        ['"<img src=x onerror=alert(1)>"@example.com', "Y", "<i>boss</i>", "", "", ""],
    ]
    page = upload(admin_client, csv_bytes(rows)).get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img src=x" not in page and "<b>team</b>" not in page and "<i>boss</i>" not in page
    assert "&lt;i&gt;boss&lt;/i&gt;" in page  # quoted inside an error message


def test_upload_page_documents_the_columns(admin_client):
    page = admin_client.get("/org-chart/import").get_data(as_text=True)
    for column in ("supervisor_email", "上级邮箱", "管理员"):
        assert column in page
    assert "cannot log in yet" in page and "stay deactivated" in page


def test_template_is_utf8_with_bom_and_can_be_filled_in(admin_client, admin, request_ctx):
    response = admin_client.get("/org-chart/import/template.csv")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    assert response.data.startswith(codecs.BOM_UTF8)
    assert response.data.decode("utf-8-sig").strip() == ",".join(HEADER)
    filled = response.data + b"t@example.com,T,,,,\r\n"
    plan = orgchart.build_plan(admin, orgchart.parse_file("org-chart.csv", filled))
    assert plan.is_valid and plan.counts["create"] == 1


def test_template_headers_follow_the_interface_language(admin_client):
    admin_client.post("/locale/zh_CN")
    response = admin_client.get("/org-chart/import/template.csv")
    assert response.data.decode("utf-8-sig").startswith("邮箱,姓名,角色,团队,供应商,上级邮箱")
