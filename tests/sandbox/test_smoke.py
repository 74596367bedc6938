import pytest

from ormai_django import execute
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def test_query_returns_own_tenant_rows_with_email_masked(ctx):
    mine = CustomerFactory(email="ann.lee@acme.io")
    CustomerFactory(tenant_id=8)

    result = execute({"name": "db.query", "arguments": {"model": "Customer"}}, ctx)

    assert result["outcome"] == "ok"
    assert [row["id"] for row in result["rows"]] == [mine.id]
    assert result["rows"][0]["email"] == "a***@a***.io"
    assert "password_hash" not in result["rows"][0]
