"""The runnable sandbox: seed data, the scripted demo agent's transcript, the admin."""

import json
import re
from datetime import UTC, datetime
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils import timezone

from ormai_django.models import ApprovalRequest, AuditEvent, BudgetWindow, IdempotencyRecord
from ormai_django.policy.loading import get_policy
from sandbox_project.shop.management.commands import demo_agent
from sandbox_project.shop.models import Customer, Note, Order, Subscription
from tests.support import counted

pytestmark = pytest.mark.django_db

SHOP_MODELS = (Customer, Subscription, Order, Note)
SANDBOX_WRITES_PER_MINUTE = 10  # the sandbox policy's max_writes_per_minute
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
    # Act 2: writes.
    ("denied", "REASON_REQUIRED"),  # preferred_name without a reason
    ("denied", "FIELD_NOT_WRITABLE"),  # is_vip
    ("ok", None),  # preferred_name with a reason
    ("dry_run", None),  # cancel every pending order, previewed
    ("ok", None),  # preferred_language with an idempotency key
    ("ok", None),  # the same call again: replayed
    ("ok", None),  # a note created
    *[("ok", None)] * SANDBOX_WRITES_PER_MINUTE,  # a second agent's writes, up to its budget
    ("denied", "RATE_LIMITED"),  # one more within the minute
    # Act 3: held for a human (and left pending).
    ("ok", None),  # the opened customer's subscription looked up
    ("dry_run", None),  # its upgrade previewed: would_require_approval
    ("pending_approval", None),  # the upgrade, held for 1 approver
    ("pending_approval", None),  # the same call, same key: the same approval
    ("pending_approval", None),  # a prospect's delete, held for 2 approvers
    ("pending_approval", None),  # a third agent's bulk note update past the burst bound
]
# The calls of run "demo-run" (acts 1 to 3); act 4's orders agent has a run of its own.
SUPPORT_RUN_OUTCOMES = list(EXPECTED_OUTCOMES)
EXPECTED_OUTCOMES += [
    # Act 4: rolling a bad write back (the rollbacks are the operator's, not steps).
    ("ok", None),  # every pending order of a customer cancelled: a where too wide
    ("ok", None),  # one order marked paid (a colleague then ships it)
    # Act 5: the shop's own actions (domain tools), by a billing agent of its own.
    ("dry_run", None),  # a refund previewed
    ("ok", None),  # the refund
    ("error", "VALIDATION_FAILED"),  # more than is left to refund
    ("ok", None),  # one more seat
    ("pending_approval", None),  # a plan change over 500 a month
    ("pending_approval", None),  # a receipt email (irreversible)
]
# Step numbers (as printed) of act 2.
NO_REASON, NOT_WRITABLE, RENAME, PREVIEW, LANGUAGE, RETRY, NOTE = range(15, 22)
SYNC_WRITES = range(22, 22 + SANDBOX_WRITES_PER_MINUTE)
LIMITED = 22 + SANDBOX_WRITES_PER_MINUTE
# Of act 3.
LOOKUP, UPGRADE_PREVIEW, UPGRADE, UPGRADE_RETRY, ERASE, BURST = range(LIMITED + 1, LIMITED + 7)
HELD = (UPGRADE, ERASE, BURST)
# Of act 4.
TOO_WIDE, MARK_PAID = BURST + 1, BURST + 2
STEP_HEADER = re.compile(r"^\[(\d+)\] ", re.MULTILINE)
HIDDEN_ROWS = re.compile(r",\n\s*\.\.\. (\d+) more rows")
# Anything shaped like an email address, and a phone number of the seed's shape.
EMAIL_LIKE = re.compile(r"[\w.+*-]+@[\w*-]+(?:\.[\w*-]+)+")
PHONE_LIKE = re.compile(r"\+\d{1,3}(?: \d{2,4}){2,}")


def seed(*args):
    out = StringIO()
    call_command("seed_sandbox", *args, stdout=out)
    return out.getvalue()


def run_demo():
    out = StringIO()
    call_command("demo_agent", stdout=out)
    return out.getvalue()


def parse_steps(transcript):
    """Each step of the transcript as {"number", "narration", "call", "result", "hidden",
    "aside"}, the result parsed back from the printed JSON (rows hidden by the transcript
    are dropped; "hidden" is how many); narration and aside with their lines joined."""
    steps = []
    headers = list(STEP_HEADER.finditer(transcript))
    for header, following in zip(headers, [*headers[1:], None], strict=True):
        block = transcript[header.start() : following.start() if following else None]
        call = re.search(r"^>>> (.*)$", block, re.MULTILINE)
        hidden = sum(int(n) for n in HIDDEN_ROWS.findall(block))
        printed = HIDDEN_ROWS.sub("", block[block.index("\n<<< ") + 5 :])
        result, end = json.JSONDecoder().raw_decode(printed)
        steps.append(
            {
                "number": int(header.group(1)),
                "narration": " ".join(block[len(header.group(0)) : call.start()].split()),
                "call": call.group(1),
                "result": result,
                "hidden": hidden,
                "aside": " ".join(printed[end:].split()),
            }
        )
    return steps


def outcome(result):
    return result["outcome"], result.get("error", {}).get("code")


def step(steps, number):
    found = next(s for s in steps if s["number"] == number)
    return found, json.loads(found["call"])["arguments"], found["result"]


def snapshot_shop():
    return {model.__name__: list(model.objects.order_by("pk").values()) for model in SHOP_MODELS}


@pytest.mark.slow
def test_demo_transcript_shows_each_steps_expected_outcome():
    seed("--reset")
    assert get_policy().max_writes_per_minute == SANDBOX_WRITES_PER_MINUTE

    transcript = run_demo()

    steps = parse_steps(transcript)
    assert [s["number"] for s in steps] == list(range(1, len(EXPECTED_OUTCOMES) + 1))
    assert [outcome(s["result"]) for s in steps] == EXPECTED_OUTCOMES
    assert "!!" not in transcript


@pytest.mark.slow
def test_demo_transcript_leaks_no_contact_detail_or_secret_of_the_seed():
    seed("--reset")

    transcript = run_demo()

    customer = parse_steps(transcript)[3]["result"]["row"]
    assert "***" in customer["email"] and "*" in customer["phone"]
    assert "password_hash" not in customer and "api_token" not in customer
    for row in Customer.objects.values("email", "phone", "password_hash", "api_token"):
        for field, value in row.items():
            assert value and value not in transcript, f"{field} {value!r} leaked"
    # The note the agent created has no author email; the seed's notes all have one.
    for author_email in Note.objects.exclude(author_email="").values_list(
        "author_email", flat=True
    ):
        assert author_email not in transcript
    emails = EMAIL_LIKE.findall(transcript)
    assert emails, "the customer's masked email is shown"
    assert all("***" in email for email in emails), emails
    assert PHONE_LIKE.findall(transcript) == []


@pytest.mark.slow
def test_demo_transcript_never_names_another_tenants_customer():
    seed("--reset")

    transcript = run_demo()

    assert Customer.objects.filter(tenant_id=7, name__in=transcript.split('"')).exists()
    for name in Customer.objects.filter(tenant_id=8).values_list("name", flat=True):
        assert name not in transcript


@pytest.mark.slow
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


@pytest.mark.slow
def test_demo_second_page_continues_the_first_without_overlap():
    seed("--reset")

    steps = parse_steps(run_demo())

    first, second = steps[1]["result"], steps[2]["result"]
    assert json.loads(steps[2]["call"])["arguments"]["cursor"] == first["next_cursor"]
    pending = Order.objects.filter(tenant_id=7, status="pending").order_by("-created_at", "-id")
    expected_ids = list(pending.values_list("id", flat=True)[:6])
    assert [r["id"] for r in first["rows"] + second["rows"]] == expected_ids


@pytest.mark.slow
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


@pytest.mark.slow
def test_demo_reports_the_audit_rows_its_calls_wrote():
    seed("--reset")
    started = timezone.now()

    transcript = run_demo()

    events = AuditEvent.objects.filter(run_id="demo-run", created_at__gte=started)
    assert events.count() == len(SUPPORT_RUN_OUTCOMES)
    assert f"\n{events.count()} audit rows written for run demo-run" in transcript
    audited = [(e.outcome, e.error_code or None) for e in events.order_by("created_at", "id")]
    assert audited == SUPPORT_RUN_OUTCOMES
    steps = [s for s in parse_steps(transcript) if s["number"] <= BURST]

    def own_event(s):
        # A replay answers with the stored result (the first call's audit_id); the retry's
        # own audit row points back at it.
        if s["number"] in (RETRY, UPGRADE_RETRY):
            return events.get(caused_by_id=s["result"]["audit_id"])
        return events.get(id=s["result"]["audit_id"])

    assert [e.id for e in events.order_by("created_at", "id")] == [own_event(s).id for s in steps]
    sync_principal = events.get(id=step(steps, LIMITED)[2]["audit_id"]).principal
    assert sync_principal.startswith("agent:crm-sync/")
    retention_principal = events.get(id=step(steps, BURST)[2]["audit_id"]).principal
    assert retention_principal.startswith("agent:retention/")
    callers = {number: ("agent:support-bot", "user:42", "7") for number in range(1, BURST)}
    callers |= {number: (sync_principal, "", "7") for number in [*SYNC_WRITES, LIMITED]}
    callers[BURST] = (retention_principal, "", "7")
    for s in steps:
        event = own_event(s)
        assert (event.principal, event.on_behalf_of, event.tenant_id) == callers[s["number"]]


@pytest.mark.slow
def test_demo_writes_without_reason_or_to_a_non_writable_field_change_nothing():
    seed("--reset")
    before = snapshot_shop()["Customer"]

    steps = parse_steps(run_demo())

    for number, code in ((NO_REASON, "REASON_REQUIRED"), (NOT_WRITABLE, "FIELD_NOT_WRITABLE")):
        _, arguments, result = step(steps, number)
        event = AuditEvent.objects.get(id=result["audit_id"])
        assert (event.outcome, event.error_code) == ("denied", code)
        assert event.changes is None and event.affected_rows is None
    _, arguments, result = step(steps, NOT_WRITABLE)
    assert arguments["data"] == {"is_vip": True} and result["error"]["field"] == "is_vip"
    customer = Customer.objects.get(pk=arguments["id"])
    seeded = next(row for row in before if row["id"] == customer.pk)
    assert customer.is_vip is seeded["is_vip"] is False
    assert "reason" not in step(steps, NO_REASON)[1]


@pytest.mark.slow
def test_demo_reasoned_write_keeps_before_and_after_in_its_audit_row_and_history():
    seed("--reset")
    seeded_names = dict(Customer.objects.values_list("id", "preferred_name"))

    steps = parse_steps(run_demo())

    _, arguments, result = step(steps, RENAME)
    customer = Customer.objects.get(pk=arguments["id"])
    new_name = arguments["data"]["preferred_name"]
    assert new_name == customer.name.split()[0] != seeded_names[customer.pk]
    assert result["affected_rows"] == 1 and result["ids"] == [customer.pk]
    event = AuditEvent.objects.get(id=result["audit_id"])
    assert event.reason == arguments["reason"]
    assert event.changes == [
        {
            "pk": customer.pk,
            "before": {"preferred_name": seeded_names[customer.pk]},
            "after": {"preferred_name": new_name},
        }
    ]
    history = Customer.history.filter(
        id=customer.pk, history_change_reason=f"{event.principal}: {arguments['reason']}"
    )
    assert list(history.values_list("history_type", "preferred_name")) == [("~", new_name)]
    aside = step(steps, RENAME)[0]["aside"]
    assert f"{event.id} keeps changes=" in aside
    assert f"'{event.principal}: {arguments['reason']}'" in aside


@pytest.mark.slow
def test_demo_dry_run_previews_cancelling_every_pending_order_and_changes_none():
    seed("--reset")
    orders_before = snapshot_shop()["Order"]
    pending = set(Order.objects.filter(tenant_id=7, status="pending").values_list("id", flat=True))

    steps = parse_steps(run_demo())

    shown, arguments, result = step(steps, PREVIEW)
    assert arguments["dry_run"] is True and arguments["where"] == {"status": "pending"}
    assert result["affected_rows"] == len(pending) > 3
    assert result["would_require_approval"] is False and result["truncated"] is False
    assert len(result["would_change"]) + shown["hidden"] == len(pending)
    for row in result["would_change"]:
        assert row["id"] in pending
        assert (row["status_before"], row["status_after"]) == ("pending", "cancelled")
    # (Act 4 writes orders and rolls its writes back; the preview wrote no history row.)
    assert snapshot_shop()["Order"] == orders_before
    assert not Order.history.filter(history_change_reason__endswith=arguments["reason"]).exists()
    event = AuditEvent.objects.get(id=result["audit_id"])
    assert (event.outcome, event.changes) == ("dry_run", None)


@pytest.mark.slow
def test_demo_idempotent_retry_replays_the_first_answer_without_a_second_change():
    seed("--reset")
    seeded_languages = dict(Customer.objects.values_list("id", "preferred_language"))

    steps = parse_steps(run_demo())

    first_step, arguments, first = step(steps, LANGUAGE)
    retry_step, _, retry = step(steps, RETRY)
    assert retry_step["call"] == first_step["call"]
    assert "idempotent_replay" not in first and retry["idempotent_replay"] is True
    # The stored result, unchanged (its audit_id included), marked as a replay.
    assert {k: v for k, v in retry.items() if k != "idempotent_replay"} == first
    key = arguments["idempotency_key"]
    customer_id = arguments["id"]
    assert Customer.objects.get(pk=customer_id).preferred_language == "fr"
    # The change reason names the agent, then its reason.
    history = Customer.history.filter(
        id=customer_id, history_change_reason__endswith=f": {arguments['reason']}"
    )
    assert history.count() == 1
    assert IdempotencyRecord.objects.filter(key=key).count() == 1
    original = AuditEvent.objects.get(id=first["audit_id"])
    # The retry is audited too, as its own row pointing back at the write it replays.
    replayed = AuditEvent.objects.get(caused_by=original, idempotency_key=key)
    assert original.changes == [
        {
            "pk": customer_id,
            "before": {"preferred_language": seeded_languages[customer_id]},
            "after": {"preferred_language": "fr"},
        }
    ]
    assert replayed.changes is None and replayed.caused_by_id == original.id
    assert list(AuditEvent.objects.filter(idempotency_key=key, changes__isnull=False)) == [original]


@pytest.mark.slow
def test_demo_note_is_created_in_the_contexts_tenant():
    seed("--reset")

    steps = parse_steps(run_demo())

    _, arguments, result = step(steps, NOTE)
    assert set(arguments["data"]) == {"customer", "body"}
    note = Note.objects.get(pk=result["ids"][0])
    assert (note.tenant_id, note.customer_id, note.body) == (
        7,
        arguments["data"]["customer"],
        arguments["data"]["body"],
    )
    assert note.deleted_at is None
    principal = AuditEvent.objects.get(id=result["audit_id"]).principal
    assert list(note.history.values_list("history_type", "history_change_reason")) == [
        ("+", f"{principal}: {arguments['reason']}")
    ]
    assert AuditEvent.objects.get(id=result["audit_id"]).changes[0]["after"]["tenant_id"] == 7


@pytest.mark.slow
def test_demo_rate_limit_trips_a_second_agent_and_counts_only_writes_that_ran():
    seed("--reset")
    seeded_names = dict(Customer.objects.values_list("id", "preferred_name"))

    steps = parse_steps(run_demo())

    _, arguments, result = step(steps, LIMITED)
    assert 1 <= result["error"]["retry_after"] <= 60
    assert isinstance(result["error"]["retry_after"], int)
    assert Customer.objects.get(pk=arguments["id"]).preferred_name == seeded_names[arguments["id"]]
    sync = AuditEvent.objects.get(id=result["audit_id"]).principal
    synced = [step(steps, number)[1]["id"] for number in SYNC_WRITES]
    assert len(set(synced)) == SANDBOX_WRITES_PER_MINUTE and arguments["id"] not in synced
    assert rate_counted(sync) == SANDBOX_WRITES_PER_MINUTE
    # Of the support bot's 7 write calls before act 3, 3 ran: a dry run, 2 denials and a
    # replay spend nothing. Act 3 holds 2 of its calls (the upgrade, the erasure), which
    # count too; the retry of the upgrade is a replay.
    assert rate_counted("agent:support-bot") == 3 + 2
    narration = step(steps, SYNC_WRITES[0])[0]["narration"]
    assert "sent 7 write calls in this run and 3 of them count" in narration


def rate_counted(principal):
    """The write calls the sandbox's rate limit counted for ``principal``."""
    return counted("rate:", scope_key=principal)[0]


def held_requests(steps):
    """The approval requests of act 3's held steps, by step number."""
    return {n: ApprovalRequest.objects.get(pk=step(steps, n)[2]["approval_id"]) for n in HELD}


def notes_before_the_retention_cutoff(arguments):
    """The live notes of tenant 7 the retention job's where matches, from the database."""
    cutoff = datetime.fromisoformat(arguments["where"]["created_at__lt"])
    return Note.objects.filter(tenant_id=7, deleted_at__isnull=True, created_at__lt=cutoff)


@pytest.mark.slow
def test_demo_previews_the_upgrade_of_the_opened_customers_subscription_as_needing_one_approver():
    seed("--reset")
    seeded_plans = dict(Subscription.objects.values_list("id", "plan"))

    steps = parse_steps(run_demo())

    opened = step(steps, 4)[2]["row"]["id"]
    _, lookup, found = step(steps, LOOKUP)
    subscription = Subscription.objects.get(customer_id=opened)
    assert lookup["where"] == {"customer": opened}
    assert [row["id"] for row in found["rows"]] == [subscription.pk]
    _, arguments, preview = step(steps, UPGRADE_PREVIEW)
    assert arguments["dry_run"] is True and arguments["id"] == subscription.pk
    assert arguments["data"] == {"plan": "pro"} != {"plan": seeded_plans[subscription.pk]}
    assert preview["would_require_approval"] is True and preview["approvers_required"] == 1
    assert preview["would_change"] == [
        {"id": subscription.pk, "plan_before": seeded_plans[subscription.pk], "plan_after": "pro"}
    ]


@pytest.mark.slow
def test_demo_leaves_three_held_calls_pending_with_their_approvers_and_why():
    seed("--reset")
    prospect = Customer.objects.get(tenant_id=7, subscriptions=None, orders=None, notes=None)
    started = timezone.now()

    steps = parse_steps(run_demo())

    requests = held_requests(steps)
    # Act 5's billing agent leaves a plan change pending too (its receipt was approved).
    support_run = ApprovalRequest.objects.filter(run_id="demo-run")
    assert set(support_run.values_list("id", flat=True)) == {r.id for r in requests.values()}
    others = ApprovalRequest.objects.exclude(run_id="demo-run").values_list("tool", "status")
    assert sorted(others) == [
        ("shop.change_plan", "pending"),
        ("shop.send_receipt_email", "executed"),
    ]
    for number, approval in requests.items():
        shown, _, result = step(steps, number)
        assert approval.status == "pending" and approval.decided_at is None
        assert approval.call == json.loads(shown["call"])
        assert approval.expires_at > started
        assert result["expires_at"] == approval.expires_at.astimezone(UTC).isoformat().replace(
            "+00:00", "Z"
        )
        assert result["approvers_required"] == approval.approvers_required
        assert (approval.tenant_id, approval.run_id) == ("7", "demo-run")
        held = AuditEvent.objects.get(id=result["audit_id"])
        assert (held.outcome, held.approval_id) == ("pending_approval", approval.id)
        assert approval.id in shown["aside"] and approval.why_held in shown["aside"]
    upgrade, erase, burst = (requests[n] for n in HELD)
    assert upgrade.approvers_required == 1 and "model=Subscription" in upgrade.why_held
    assert (upgrade.principal, upgrade.on_behalf_of) == ("agent:support-bot", "user:42")
    assert erase.approvers_required == 2
    assert "tool=db.delete" in erase.why_held and "model=Customer" in erase.why_held
    assert step(steps, ERASE)[1]["id"] == prospect.pk and erase.affected_rows == 1
    assert erase.preview["cascade"] == {}
    assert burst.approvers_required == 1 and "burst" in burst.why_held
    assert burst.principal.startswith("agent:retention/") and burst.on_behalf_of == ""


@pytest.mark.slow
def test_demo_burst_is_one_update_of_more_notes_than_the_burst_row_bound():
    seed("--reset")
    (bound,) = [b for b in get_policy().budgets_for("db.update", Note) if b.kind == "burst"]

    steps = parse_steps(run_demo())

    _, arguments, result = step(steps, BURST)
    matching = notes_before_the_retention_cutoff(arguments)
    assert bound.max_rows < matching.count()
    assert bound.max_calls > SANDBOX_WRITES_PER_MINUTE  # why the demo can't show the call bound
    approval = ApprovalRequest.objects.get(pk=result["approval_id"])
    assert approval.affected_rows == matching.count()
    assert f"{bound.max_rows} rows" in approval.why_held
    # The retention agent's rate limit was fresh: the held call is the one call it counts.
    assert rate_counted(approval.principal) == 1


@pytest.mark.slow
def test_demo_retry_of_the_held_upgrade_returns_the_same_approval():
    seed("--reset")

    steps = parse_steps(run_demo())

    first_step, arguments, first = step(steps, UPGRADE)
    retry_step, _, retry = step(steps, UPGRADE_RETRY)
    assert retry_step["call"] == first_step["call"] and arguments["idempotency_key"]
    assert "idempotent_replay" not in first and retry["idempotent_replay"] is True
    assert {k: v for k, v in retry.items() if k != "idempotent_replay"} == first
    upgrades = ApprovalRequest.objects.filter(tool="db.update", principal="agent:support-bot")
    assert list(upgrades.values_list("id", flat=True)) == [first["approval_id"]]
    assert IdempotencyRecord.objects.filter(key=arguments["idempotency_key"]).count() == 1
    replayed = AuditEvent.objects.get(caused_by_id=first["audit_id"])
    assert replayed.idempotency_key == arguments["idempotency_key"]
    # The retry's own row points at the same approval: it requested nothing new.
    assert replayed.approval_id == first["approval_id"]
    assert (
        f"1 approval request for the key '{arguments['idempotency_key']}'" in (retry_step["aside"])
    )


@pytest.mark.slow
def test_demo_held_calls_write_nothing():
    seed("--reset")
    before = snapshot_shop()
    history_before = {model.__name__: model.history.count() for model in SHOP_MODELS}

    steps = parse_steps(run_demo())

    after = snapshot_shop()
    held = held_requests(steps)
    assert after["Subscription"] == before["Subscription"]
    # Act 5 adds a seat and rolls it back: two history rows; nothing else of subscriptions.
    assert Subscription.history.count() == history_before["Subscription"] + 2
    prospect_id = step(steps, ERASE)[1]["id"]
    assert [r for r in after["Customer"] if r["id"] == prospect_id] == [
        r for r in before["Customer"] if r["id"] == prospect_id
    ]
    assert Customer.history.filter(id=prospect_id).count() == 1
    # Act 2 created one note; every seeded note is as it was, none redacted.
    created = step(steps, NOTE)[2]["ids"]
    assert [n for n in after["Note"] if n["id"] not in created] == before["Note"]
    assert Note.history.count() == history_before["Note"] + 1
    for approval in held.values():
        # The request's row (and, for the upgrade, its retry's): none changed anything.
        held_events = AuditEvent.objects.filter(approval=approval)
        assert {(e.outcome, e.changes) for e in held_events} == {("pending_approval", None)}
        assert held_events.filter(caused_by__isnull=True).count() == 1
    assert not AuditEvent.objects.filter(tool__startswith="approval.", run_id="demo-run").exists()


def test_demo_fails_before_any_call_when_no_customer_can_be_deleted_without_cascade():
    seed("--reset")
    prospect = Customer.objects.get(tenant_id=7, subscriptions=None, orders=None, notes=None)
    Note.objects.create(
        tenant_id=7, customer=prospect, body="Called back.", created_at=timezone.now()
    )

    with pytest.raises(CommandError, match="seed_sandbox --reset"):
        run_demo()

    assert not AuditEvent.objects.exists()


@pytest.mark.slow
def test_demo_runs_again_at_once_without_a_new_seed():
    seed("--reset")

    first = parse_steps(run_demo())
    second = parse_steps(run_demo())

    for steps in (first, second):
        outcomes = [
            (s["result"]["outcome"], s["result"].get("error", {}).get("code")) for s in steps
        ]
        assert outcomes == EXPECTED_OUTCOMES
    assert "idempotent_replay" not in step(second, LANGUAGE)[2]
    keys = {step(steps, LANGUAGE)[1]["idempotency_key"] for steps in (first, second)}
    sync_principals = {
        AuditEvent.objects.get(id=step(steps, LIMITED)[2]["audit_id"]).principal
        for steps in (first, second)
    }
    assert len(keys) == len(sync_principals) == 2
    # Each run: 3 writes that ran and 2 held calls (the retry of the upgrade is a replay).
    assert rate_counted("agent:support-bot") == 10
    # Each run holds its own three requests; none of the first run's was replayed or decided.
    assert "idempotent_replay" not in step(second, UPGRADE)[2]
    held = [step(steps, number)[2]["approval_id"] for steps in (first, second) for number in HELD]
    assert len(set(held)) == 6
    assert set(ApprovalRequest.objects.filter(run_id="demo-run").values_list("id", "status")) == {
        (approval_id, "pending") for approval_id in held
    }
    upgrade_keys = {step(steps, UPGRADE)[1]["idempotency_key"] for steps in (first, second)}
    retention_principals = {
        ApprovalRequest.objects.get(pk=step(steps, BURST)[2]["approval_id"]).principal
        for steps in (first, second)
    }
    assert len(upgrade_keys) == len(retention_principals) == 2


def test_demo_fails_loudly_when_a_step_does_not_behave_as_scripted(monkeypatch):
    seed("--reset")
    wrong = demo_agent.Step("describe", {"name": "db.describe", "arguments": {}}, expect="denied")
    monkeypatch.setattr(demo_agent, "ACTS", [("one act", lambda facts: [wrong])])
    out = StringIO()

    with pytest.raises(CommandError, match="step 1 expected denied, got ok"):
        call_command("demo_agent", stdout=out)

    assert "!! expected denied, got ok" in out.getvalue()


def test_demo_fails_loudly_when_a_result_lacks_an_expected_field(monkeypatch):
    seed("--reset")
    wrong = demo_agent.Step(
        "describe",
        {"name": "db.describe", "arguments": {}},
        expect_fields={"idempotent_replay": True},
    )
    monkeypatch.setattr(demo_agent, "ACTS", [("one act", lambda facts: [wrong])])

    with pytest.raises(CommandError, match="step 1 expected idempotent_replay=True, got None"):
        call_command("demo_agent", stdout=StringIO())


def test_demo_fails_loudly_when_a_result_differs_from_an_earlier_one_it_must_repeat(monkeypatch):
    seed("--reset")
    describe = {"name": "db.describe", "arguments": {}}
    steps = [
        demo_agent.Step("describe", describe),
        # Two calls are two audit rows: this expectation can't hold.
        demo_agent.Step(
            "again",
            describe,
            expect_fields=lambda run: {"audit_id": run.results[-2]["audit_id"]},
        ),
    ]
    monkeypatch.setattr(demo_agent, "ACTS", [("one act", lambda facts: steps)])

    with pytest.raises(CommandError, match="step 2 expected audit_id='aud_"):
        call_command("demo_agent", stdout=StringIO())


def test_demo_without_seed_data_says_to_seed_first_and_calls_nothing():
    with pytest.raises(CommandError, match="seed_sandbox --reset"):
        run_demo()

    assert not AuditEvent.objects.exists()
    assert not BudgetWindow.objects.exists()
    assert not any(model.objects.exists() for model in SHOP_MODELS)


def test_seed_twice_with_reset_writes_the_same_rows():
    seed("--reset")
    first = snapshot_shop()

    seed("--reset")

    assert snapshot_shop() == first


def test_seed_prints_the_rows_it_wrote():
    printed = seed("--reset")

    live = Note.objects.filter(deleted_at__isnull=True).count()
    assert (
        f"{Customer.objects.count()} customers, {Subscription.objects.count()} subscriptions, "
        f"{Order.objects.count()} orders, {Note.objects.count()} notes "
        f"({Note.objects.count() - live} soft-deleted)."
    ) in printed


def test_seed_has_a_tenant_7_prospect_whose_delete_cascades_into_nothing():
    seed("--reset")

    prospects = Customer.objects.filter(tenant_id=7, subscriptions=None, orders=None, notes=None)

    assert prospects.count() == 1
    # The newest sign-up, so its id comes after every other customer's.
    prospect = prospects.get()
    assert prospect.pk == Customer.objects.order_by("-created_at").first().pk
    assert prospect.pk == Customer.objects.order_by("-pk").first().pk
    assert Customer.objects.filter(tenant_id=7).exclude(pk=prospect.pk).exists()
    assert not Customer.objects.filter(subscriptions=None).exclude(pk=prospect.pk).exists()


def test_seed_gives_tenant_7_more_live_notes_than_one_burst_may_touch():
    seed("--reset")
    (burst,) = [b for b in get_policy().budgets_for("db.update", Note) if b.kind == "burst"]
    bound = burst.max_rows

    assert Note.objects.filter(tenant_id=7, deleted_at__isnull=True).count() > bound


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


@pytest.mark.slow
def test_seed_gives_the_admin_back_its_demo_password(client, django_user_model):
    seed("--reset")
    admin = django_user_model.objects.get(username="admin")
    admin.set_password("something else")
    admin.is_superuser = False
    admin.save()

    seed("--reset")

    assert client.login(username="admin", password="ormai-demo")
    assert django_user_model.objects.get(username="admin").is_superuser


@pytest.mark.slow
@pytest.mark.parametrize(
    "url_name",
    [
        "admin:ormai_django_auditevent_changelist",
        "admin:ormai_django_approvalrequest_changelist",
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


@pytest.mark.slow
def test_admin_audit_changelist_lists_the_demo_runs_denials(client):
    seed("--reset")
    run_demo()
    client.login(username="admin", password="ormai-demo")

    response = client.get(
        reverse("admin:ormai_django_auditevent_changelist"), {"q": "demo-run", "outcome": "denied"}
    )

    assert response.status_code == 200
    shown = response.context["cl"].result_count
    assert shown == sum(1 for outcome, _ in SUPPORT_RUN_OUTCOMES if outcome == "denied")


@pytest.mark.slow
def test_admin_approval_queue_lists_the_demo_runs_three_pending_requests(client):
    seed("--reset")
    steps = parse_steps(run_demo())
    client.login(username="admin", password="ormai-demo")

    response = client.get(
        reverse("admin:ormai_django_approvalrequest_changelist"), {"status__exact": "pending"}
    )

    assert response.status_code == 200
    listed = {approval.id for approval in response.context["cl"].result_list}
    # Act 3's three, and act 5's plan change over 500 a month.
    billing = ApprovalRequest.objects.filter(tool="shop.change_plan", status="pending")
    assert listed == {step(steps, number)[2]["approval_id"] for number in HELD} | {billing.get().id}


@pytest.mark.slow
def test_demo_act_4_rolls_the_too_wide_update_back_and_refuses_then_forces_the_conflict():
    seed("--reset")
    before = snapshot_shop()["Order"]

    transcript = run_demo()

    steps = parse_steps(transcript)
    _, wide, cancelled = step(steps, TOO_WIDE)
    _, paid_call, paid = step(steps, MARK_PAID)
    assert wide["where"]["status"] == "pending"
    assert cancelled["affected_rows"] >= 2
    # Every order the act touched is as the seed left it: both writes were rolled back.
    assert snapshot_shop()["Order"] == before
    rollbacks = AuditEvent.objects.filter(
        tool="rollback", caused_by__run_id__startswith="demo-orders/"
    ).order_by("created_at", "id")
    assert [(e.caused_by_id, e.outcome, e.arguments["force"]) for e in rollbacks] == [
        (cancelled["audit_id"], "dry_run", False),
        (cancelled["audit_id"], "ok", False),
        (paid["audit_id"], "denied", False),
        (paid["audit_id"], "ok", True),
    ]
    assert {e.principal for e in rollbacks} == {"ops:demo-admin"}
    assert rollbacks[2].error_code == "ROLLBACK_CONFLICT"
    assert f'{paid_call["id"]}.status: the write left "paid", now "shipped"' in transcript
    # The refused conflict, and act 5's irreversible receipt.
    assert transcript.count("(exit status 1)") == 2
    history = Order.history.filter(id=paid_call["id"]).order_by("-history_id").first()
    assert history.history_change_reason.startswith("Payment not received")
