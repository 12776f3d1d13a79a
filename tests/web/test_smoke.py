def test_login_page_renders(client):
    r = client.get("/login")
    assert r.status_code == 200
    assert b"Log in" in r.data


def test_admin_logs_in_and_sees_people(factory, login_as):
    admin = factory.admin(email="boss@example.com")
    client = login_as(admin)
    r = client.get("/people")
    assert r.status_code == 200
    assert b"boss@example.com" in r.data
