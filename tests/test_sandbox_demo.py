"""The runnable sandbox: seed data, the scripted demo agent's transcript, the admin."""

import json
import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils import timezone

from ormai_django.models import AuditEvent
from sandbox_project.shop.management.commands import demo_agent
from sandbox_project.shop.models import Customer, Note, Order, Subscription

pytestmark = pytest.mark.django_db

SHOP_MODELS = (Customer, Subscription, Order, Note)
# The demo's story, step by step: what each call must come back with.
EXPECTED_OUTCOMES = [
    ("ok", None),  # db.describe
    ("ok", None),  # pending orders, first page
    ("ok", None),  # next page through next_cursor
    ("ok", None),  # db.get of a customer
    ("ok", None),  # db.aggregate grouped by status
    ("ok", None),  # customer__name__icontains
    ("denied", "FIELD_DENIED"),  # filter on a masked field
    ("denied", "FIELD_DENIED"),  # select password_hash
    ("denied", "FIELD_DENIED"),  # a secret through a relation
    ("error", "NOT_FOUND"),  # another tenant's customer
    ("error", "NOT_FOUND"),  # a customer that doesn't exist
    ("denied", "LOOKUP_NOT_ALLOWED"),  # regex lookup
    ("error", "INVALID_ARGUMENTS"),  # a value the field can't take
    ("error", "INVALID_JSON"),  # a malformed call
]
STEP_HEADER = re.compile(r"^\[(\d+)\] ", re.MULTILINE)
HIDDEN_ROWS = re.compile(r",\n\s*\.\.\. \d+ more rows")


def seed(*args):
    out = StringIO()
    call_command("seed_sandbox", *args, stdout=out)
    return out.getvalue()


def run_demo():
    out = StringIO()
    call_command("demo_agent", stdout=out)
    return out.getvalue()


def parse_steps(transcript):
    """Each step of the transcript as {"number", "call", "result"}, the result parsed back
    from the printed JSON (rows hidden by the transcript are dropped)."""
    steps = []
    headers = list(STEP_HEADER.finditer(transcript))
    for header, following in zip(headers, [*headers[1:], None], strict=True):
        block = transcript[header.start() : following.start() if following else None]
        call = re.search(r"^>>> (.*)$", block, re.MULTILINE).group(1)
        printed = re.search(r"^<<< (.*?^\})$", block, re.MULTILINE | re.DOTALL).group(1)
        steps.append(
            {
                "number": int(header.group(1)),
                "call": call,
                "result": json.loads(HIDDEN_ROWS.sub("", printed)),
            }
        )
    return steps


def snapshot_shop():
    return {model.__name__: list(model.objects.order_by("pk").values()) for model in SHOP_MODELS}


def test_demo_transcript_shows_each_steps_expected_outcome():
    seed("--reset")

    steps = parse_steps(run_demo())

    assert [s["number"] for s in steps] == list(range(1, len(EXPECTED_OUTCOMES) + 1))
    outcomes = [(s["result"]["outcome"], s["result"].get("error", {}).get("code")) for s in steps]
    assert outcomes == EXPECTED_OUTCOMES


def test_demo_transcript_leaks_no_contact_detail_or_secret_of_the_seed():
    seed("--reset")

    transcript = run_demo()

    customer = parse_steps(transcript)[3]["result"]["row"]
    assert "***" in customer["email"] and "*" in customer["phone"]
    assert "password_hash" not in customer and "api_token" not in customer
    for row in Customer.objects.values("email", "phone", "password_hash", "api_token"):
        for field, value in row.items():
            assert value and value not in transcript, f"{field} {value!r} leaked"
    for author_email in Note.objects.values_list("author_email", flat=True):
        assert author_email not in transcript


def test_demo_transcript_never_names_another_tenants_customer():
    seed("--reset")

    transcript = run_demo()

    assert Customer.objects.filter(tenant_id=7, name__in=transcript.split('"')).exists()
    for name in Customer.objects.filter(tenant_id=8).values_list("name", flat=True):
        assert name not in transcript


def test_demo_relation_filter_returns_only_own_tenant_orders_though_both_tenants_match():
    seed("--reset")
    assert Order.objects.filter(tenant_id=8, customer__name__icontains="anna").exists()

    steps = parse_steps(run_demo())

    relation_step = next(s for s in steps if "customer__name__icontains" in s["call"])
    result = relation_step["result"]
    expected = Order.objects.filter(tenant_id=7, customer__name__icontains="anna")
    assert result["count"] == expected.count()
    shown = [row["id"] for row in result["rows"]]
    assert set(shown) <= set(expected.values_list("id", flat=True))


def test_demo_second_page_continues_the_first_without_overlap():
    seed("--reset")

    steps = parse_steps(run_demo())

    first, second = steps[1]["result"], steps[2]["result"]
    assert json.loads(steps[2]["call"])["arguments"]["cursor"] == first["next_cursor"]
    pending = Order.objects.filter(tenant_id=7, status="pending").order_by("-created_at", "-id")
    expected_ids = list(pending.values_list("id", flat=True)[:6])
    assert [r["id"] for r in first["rows"] + second["rows"]] == expected_ids


def test_demo_other_tenants_customer_gets_the_same_answer_as_a_missing_one():
    seed("--reset")

    steps = parse_steps(run_demo())

    other = next(s for s in steps if s["number"] == 10)
    missing = next(s for s in steps if s["number"] == 11)
    other_id = json.loads(other["call"])["arguments"]["id"]
    missing_id = json.loads(missing["call"])["arguments"]["id"]
    assert Customer.objects.filter(pk=other_id, tenant_id=8).exists()
    assert not Customer.objects.filter(pk=missing_id).exists()
    other_error, missing_error = other["result"]["error"], missing["result"]["error"]
    assert other_error["message"].replace(str(other_id), "<id>") == missing_error[
        "message"
    ].replace(str(missing_id), "<id>")
    assert other_error.keys() == missing_error.keys()


def test_demo_reports_the_audit_rows_its_calls_wrote():
    seed("--reset")
    started = timezone.now()

    transcript = run_demo()

    events = AuditEvent.objects.filter(run_id="demo-run", created_at__gte=started)
    assert events.count() == len(EXPECTED_OUTCOMES)
    assert f"\n{events.count()} audit rows written for run demo-run" in transcript
    assert set(events.values_list("principal", "on_behalf_of", "tenant_id")) == {
        ("agent:support-bot", "user:42", "7")
    }
    audited = sorted(events.values_list("outcome", "error_code"))
    assert audited == sorted((o, c or "") for o, c in EXPECTED_OUTCOMES)


def test_demo_fails_loudly_when_a_step_does_not_behave_as_scripted(monkeypatch):
    seed("--reset")
    wrong = demo_agent.Step("describe", {"name": "db.describe", "arguments": {}}, expect="denied")
    monkeypatch.setattr(demo_agent, "ACTS", [("one act", lambda facts: [wrong])])
    out = StringIO()

    with pytest.raises(CommandError, match="step 1 expected denied, got ok"):
        call_command("demo_agent", stdout=out)

    assert "!! expected denied, got ok" in out.getvalue()


def test_demo_without_seed_data_says_to_seed_first():
    with pytest.raises(CommandError, match="seed_sandbox --reset"):
        run_demo()


def test_seed_twice_with_reset_writes_the_same_rows():
    seed("--reset")
    first = snapshot_shop()

    seed("--reset")

    assert snapshot_shop() == first


def test_seed_covers_two_tenants_every_order_status_and_soft_deleted_notes():
    seed("--reset")

    assert set(Customer.objects.values_list("tenant_id", flat=True)) == {7, 8}
    assert set(Order.objects.values_list("status", flat=True)) == set(Order.Status.values)
    assert Order.objects.values("currency").distinct().count() > 1
    assert Subscription.objects.filter(tenant_id=8).exists()
    assert Note.objects.filter(deleted_at__isnull=False).exists()
    assert Note.objects.filter(deleted_at__isnull=True).exists()


def test_seed_reset_replaces_rows_and_their_history():
    seed("--reset")
    Customer.objects.filter(tenant_id=7).update(name="changed outside the seed")
    customer = Customer.objects.get(pk=1)
    customer.preferred_name = "Changed"
    customer.save()  # one more history row

    seed("--reset")

    for model in SHOP_MODELS:
        history = model.history.all()
        assert history.count() == model.objects.count()
        assert set(history.values_list("history_type", "history_change_reason")) == {
            ("+", "sandbox seed")
        }
    assert not Customer.objects.filter(name="changed outside the seed").exists()


def test_seed_without_reset_refuses_to_mix_with_existing_rows():
    seed("--reset")
    before = snapshot_shop()

    with pytest.raises(CommandError, match="--reset"):
        seed()

    assert snapshot_shop() == before


def test_rows_created_after_the_seed_get_fresh_ids():
    seed("--reset")
    highest = Customer.objects.order_by("-pk").values_list("pk", flat=True).first()

    created = Customer.objects.create(
        tenant_id=7,
        name="Added Later",
        email="added@example.com",
        password_hash="x",
        created_at=timezone.now(),
    )

    assert created.pk > highest


def test_seed_prints_the_admin_login_and_the_admin_can_log_in(client):
    printed = seed("--reset")

    assert "Admin login: admin / ormai-demo at http://127.0.0.1:8000/admin/" in printed
    assert client.login(username="admin", password="ormai-demo")


def test_seed_gives_the_admin_back_its_demo_password(client, django_user_model):
    seed("--reset")
    admin = django_user_model.objects.get(username="admin")
    admin.set_password("something else")
    admin.is_superuser = False
    admin.save()

    seed("--reset")

    assert client.login(username="admin", password="ormai-demo")
    assert django_user_model.objects.get(username="admin").is_superuser


@pytest.mark.parametrize(
    "url_name",
    [
        "admin:ormai_django_auditevent_changelist",
        "admin:shop_customer_changelist",
        "admin:shop_subscription_changelist",
        "admin:shop_order_changelist",
        "admin:shop_note_changelist",
    ],
)
def test_admin_pages_open_for_the_demo_admin_after_a_demo_run(client, url_name):
    seed("--reset")
    run_demo()
    client.login(username="admin", password="ormai-demo")

    response = client.get(reverse(url_name))

    assert response.status_code == 200


def test_admin_shows_a_seeded_customers_history(client):
    seed("--reset")
    client.login(username="admin", password="ormai-demo")
    customer = Customer.objects.order_by("pk").first()

    response = client.get(reverse("admin:shop_customer_history", args=[customer.pk]))

    assert response.status_code == 200
    assert b"sandbox seed" in response.content


def test_admin_audit_changelist_lists_the_demo_runs_denials(client):
    seed("--reset")
    run_demo()
    client.login(username="admin", password="ormai-demo")

    response = client.get(
        reverse("admin:ormai_django_auditevent_changelist"), {"q": "demo-run", "outcome": "denied"}
    )

    assert response.status_code == 200
    shown = response.context["cl"].result_count
    assert shown == sum(1 for outcome, _ in EXPECTED_OUTCOMES if outcome == "denied")
