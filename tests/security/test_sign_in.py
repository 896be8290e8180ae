"""Sign-in safety: throttling, cookies and headers that every response carries."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clean_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def analyst():
    user = UserFactory(username="ana", role="analyst")
    user.set_password("correct horse battery")
    user.save()
    return user


def _login(client, username, password):
    return client.post("/login/", {"username": username, "password": password})


def test_five_failures_lock_the_user_out_even_with_the_right_password(client, analyst, settings):
    settings.LOGIN_FAILURE_LIMIT = 5
    for _ in range(5):
        assert _login(client, "ana", "wrong").status_code == 200
    response = _login(client, "ana", "correct horse battery")
    assert response.status_code == 200
    assert "Too many failed sign-ins" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_a_success_before_the_limit_signs_in(client, analyst):
    for _ in range(3):
        _login(client, "ana", "wrong")
    response = _login(client, "ana", "correct horse battery")
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(analyst.pk)


def test_pages_need_a_login_and_responses_carry_security_headers(client):
    response = client.get("/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    page = client.get("/login/")
    csp = page["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-eval" not in csp
    assert page["X-Content-Type-Options"] == "nosniff"
    assert page["X-Frame-Options"] == "DENY"
    assert page["Referrer-Policy"] == "same-origin"


def test_login_page_has_no_inline_script(client):
    html = client.get("/login/").content.decode()
    import re

    for tag in re.findall(r"<script\b[^>]*>", html):
        assert "src=" in tag, f"inline script on the login page: {tag}"
