"""`flask orbit demo` and `flask orbit create-admin`."""

from sqlalchemy import func, select

from core.extensions import db
from org.models import Team, User, Vendor
from surveys import definition as qdef
from surveys.models import Campaign, Invitation, Questionnaire, Response


def _count(model):
    return db.session.scalar(select(func.count()).select_from(model))


def test_demo_loads_a_bilingual_organisation_once_and_prints_the_logins(app):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["orbit", "demo"])
    assert first.exit_code == 0, first.output
    assert "admin@demo.orbit" in first.output and "orbit-demo-2026" in first.output
    assert "/s/" in first.output  # the customer survey link
    people, teams, vendors = _count(User), _count(Team), _count(Vendor)
    assert 35 <= people <= 45 and teams == 4 and vendors == 2
    # Reporting lines three levels deep, Chinese and English names.
    member = db.session.scalar(select(User).where(User.email == "zhou.tao@demo.orbit"))
    assert member.supervisor.supervisor.supervisor is not None
    assert any("\u4e00" <= ch <= "\u9fff" for ch in member.display_name)
    published = db.session.scalar(
        select(Questionnaire).where(Questionnaire.key == "customer-satisfaction")
    )
    assert published.latest_published is not None and _count(Campaign) == 2
    # The campaigns have answers to look at: a public one with a few left half-way,
    # one by invitation with about half of the invitees done.
    public, personal = db.session.scalars(select(Campaign).order_by(Campaign.id)).all()
    by_status = dict(db.session.execute(
        select(Response.status, func.count()).where(Response.campaign_id == public.id)
        .group_by(Response.status)
    ).all())
    assert by_status["completed"] >= 80 and by_status["in_progress"] >= 1
    assert public.subject_vendor_id is not None and public.hidden_fields == ["channel"]
    invited = db.session.scalars(
        select(Invitation).where(Invitation.campaign_id == personal.id)
    ).all()
    done = [i for i in invited if i.completed_at is not None]
    assert invited and 0 < len(done) < len(invited)
    # Every stored answer is one the questionnaire accepts.
    from surveys import services

    responses = db.session.scalars(select(Response)).all()
    loaded = services.load_answers_of(responses)
    for response in responses:
        definition = services.parsed_version(response.version)
        if response.is_completed:
            assert not qdef.unanswered_required(definition, loaded[response.id], "en")

    again = runner.invoke(args=["orbit", "demo"])
    assert again.exit_code == 0
    assert "orbit-demo-2026" not in again.output  # logins are printed once
    assert (_count(User), _count(Team), _count(Vendor), _count(Campaign)) == (
        people, teams, vendors, 2,
    )


def test_demo_refuses_to_run_in_production(app, monkeypatch):
    monkeypatch.setitem(app.config, "ENV_NAME", "production")
    result = app.test_cli_runner().invoke(args=["orbit", "demo"])
    assert result.exit_code != 0 and "production" in result.output
    assert _count(User) == 0


def test_create_admin_makes_an_administrator_who_can_log_in(app, client):
    result = app.test_cli_runner().invoke(
        args=["orbit", "create-admin", "--email", "Root@Example.com", "--name", "Root"],
        input="a long enough secret\na long enough secret\n",
    )
    assert result.exit_code == 0, result.output
    user = db.session.scalar(select(User).where(User.email == "root@example.com"))
    assert user.role == "admin" and user.password_hash.startswith("$argon2id$")
    credentials = {"email": "root@example.com", "password": "a long enough secret"}
    r = client.post("/login", data=credentials)
    assert r.status_code == 302


def test_create_admin_refuses_a_weak_password_and_writes_nothing(app):
    result = app.test_cli_runner().invoke(
        args=["orbit", "create-admin", "--email", "x@example.com", "--name", "X"],
        input="short\nshort\n",
    )
    assert result.exit_code != 0 and "10 characters" in result.output
    assert _count(User) == 0
