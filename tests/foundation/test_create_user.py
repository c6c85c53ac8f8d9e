"""``create_user``: one command gives a login to the admin and a token for the API."""

from __future__ import annotations

import io
import json
import re
import sys
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import Client

from emgsonar.models import ApiToken

pytestmark = pytest.mark.django_db

ADD_PROPERTY = "/api/properties/add_property/"


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("create_user", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def admin_login(username: str, password: str) -> Client:
    """Log in through the admin's login form, CSRF token included, as a browser does."""
    client = Client(enforce_csrf_checks=True)
    page = client.get("/admin/login/")
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.content).group(1)
    response = client.post(
        "/admin/login/?next=/admin/",
        {"username": username, "password": password, "csrfmiddlewaretoken": token.decode()},
    )
    assert response.status_code == 302, response.content[:2000]
    assert response["Location"] == "/admin/"
    return client


def add_property(key: str, name: str):
    return Client(enforce_csrf_checks=True).post(
        ADD_PROPERTY,
        json.dumps({"name": name, "datatype": "integer"}),
        content_type="application/json",
        headers={"Authorization": f"Bearer {key}"},
    )


def test_an_admin_with_a_token_in_one_command(monkeypatch) -> None:
    monkeypatch.delenv("EMGSONAR_USER_PASSWORD", raising=False)
    out, err = run("alice", "--admin", "--token", "--email", "alice@example.org")
    password = re.search(r"password for alice \(shown once\): (\S+)", err).group(1)
    key = out.strip()
    assert "\n" not in key and ApiToken.objects.get().key_hash == ApiToken.hash_key(key)
    alice = User.objects.get(username="alice")
    assert (alice.email, alice.is_staff, alice.is_superuser) == ("alice@example.org", True, True)

    index = admin_login("alice", password).get("/admin/")
    assert index.status_code == 200 and b"emgsonar administration" in index.content
    created = add_property(key, "ct_value")
    assert created.status_code == 201, created.content

    # again: nothing changes, the message says so, and --token gives a second working token
    out, err = run("alice", "--token")
    assert "user 'alice' exists; left unchanged" in err and "password" not in err.split(";")[0]
    assert User.objects.count() == 1 and ApiToken.objects.count() == 2
    assert add_property(out.strip(), "ct_value_2").status_code == 201
    admin_login("alice", password)  # the first password still works


def test_password_from_stdin_or_environment(monkeypatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("correct horse battery\n"))
    _, err = run("bob", "--password-stdin")
    assert "shown once" not in err and "created user 'bob'" in err
    assert User.objects.get(username="bob").check_password("correct horse battery")

    monkeypatch.setenv("EMGSONAR_USER_PASSWORD", "from the environment")
    out, _ = run("carol")
    assert out == ""  # no token asked for: stdout stays empty
    carol = User.objects.get(username="carol")
    assert carol.check_password("from the environment") and not carol.is_staff


def test_a_plain_user_gets_only_the_permissions_named() -> None:
    out, _ = run("importer", "--permission", "emgsonar.add_importrun", "--token")
    user = User.objects.get(username="importer")
    assert user.has_perm("emgsonar.add_importrun") and not user.has_perm("ena_like.add_property")
    denied = add_property(out.strip(), "x")
    assert denied.status_code == 403 and "ena_like.add_property" in denied.json()["detail"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("dave", "--permission", "ena_like.fly"), "unknown permission 'ena_like.fly'"),
        (("bad name!",), "invalid user name 'bad name!'"),
        (("eve", "--password-stdin"), "stdin gave no password"),
        (("frank", "--password-stdin"), "password refused: This password is too short"),
    ],
)
def test_refusals_create_nothing(monkeypatch, args: tuple[str, ...], message: str) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("" if args[0] == "eve" else "short\n"))
    with pytest.raises(CommandError) as refused:
        run(*args)
    assert message in str(refused.value)
    assert not User.objects.exists()


def test_the_login_page_says_how_to_get_a_login(client: Client) -> None:
    page = client.get("/admin/login/")
    assert page.status_code == 200
    assert b"./taskw manage -- create_user NAME --admin" in page.content
