"""The served OpenAPI schema, the offline docs, and a bounded schemathesis run against it:
no 5xx, and every response conforms to the schema.

schemathesis' pytest plugin (``from_fixture``) does not work with pytest 9 (it reads a
private ``_nodeid``), so the operations are walked here with hypothesis directly, which is
what the plugin does.
"""

from __future__ import annotations

import pytest
import schemathesis
from django.db import transaction
from hypothesis import HealthCheck, Phase, given, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error, response_schema_conformance

from copycat.wsgi import application

pytestmark = pytest.mark.django_db

MAX_EXAMPLES = 20


def test_schema_and_docs_are_served_offline_to_signed_in_users_only(api, users, client):
    refused = api[None].get("/api/v1/schema/?format=json")
    assert refused.status_code == 401 and b"Authorization: Token" in refused.content
    to_login = api[None].get("/api/v1/docs/")
    assert to_login.status_code == 302 and to_login["Location"] == "/login/?next=/api/v1/docs/"
    response = api["viewer"].get("/api/v1/schema/")
    assert response.status_code == 200 and b"openapi: 3" in response.content
    client.force_login(users["viewer"])  # the docs are a page: the browser session signs in
    docs = client.get("/api/v1/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "swagger-ui" in html and "cdn.jsdelivr" not in html and "unpkg.com" not in html


@pytest.fixture
def keep_db_connection():
    """Calls through the WSGI app would close the test's connection at request end (Django's
    test client disconnects the same handlers)."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def test_api_conforms_to_its_schema(api, world, users, keep_db_connection):
    token, _ = Token.objects.get_or_create(user=users["lead"])
    schema = schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", application,
                                            headers={"Authorization": f"Token {token.key}"})
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 30
    failures = []
    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=MAX_EXAMPLES, deadline=None, phases=[Phase.explicit, Phase.generate],
                  suppress_health_check=list(HealthCheck), database=None)
        def check(case):
            case.headers = {**(case.headers or {}), "Authorization": f"Token {token.key}"}
            # Each call in its own savepoint: a write or an aborted statement of one example
            # leaves the next one the same world.
            savepoint = transaction.savepoint_create()
            try:
                response = case.call()
            finally:
                transaction.savepoint_rollback(savepoint)
            case.validate_response(response, checks=(not_a_server_error, response_schema_conformance))

        try:
            check()
        except Exception as exc:  # noqa: BLE001 - collect every operation's failure, then report them all
            failures.append(f"{operation.method.upper()} {operation.path}: {str(exc)[:1500]}")
    assert not failures, "\n\n".join(failures)
