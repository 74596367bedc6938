"""System checks over ORMAI["POLICY"], the ORMAI settings accessor and the policy cache."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.core import checks
from django.test import override_settings

from ormai_django import ToolContext, execute, get_policy
from ormai_django.checks import check_policy
from ormai_django.conf import DEFAULTS, ormai_settings
from ormai_django.policy.masking import DefaultMasker, get_masker
from sandbox_project.shop.models import Customer

pytestmark = pytest.mark.django_db

REPO_ROOT = Path(__file__).resolve().parents[2]
HERE = "tests.policies_for_checks"


def ormai_messages(policy_path):
    """The ormai_django system check messages for ORMAI = {"POLICY": policy_path}."""
    with override_settings(ORMAI={"POLICY": policy_path}):
        return checks.run_checks(tags=["ormai_django"])


def ids(messages):
    return [m.id for m in messages]


# --- a good policy --------------------------------------------------------------------


def test_good_policy_passes_the_checks():
    assert ormai_messages(f"{HERE}.good_policy") == []


def test_a_policy_instance_named_by_the_setting_passes_the_checks():
    assert ormai_messages(f"{HERE}.GROUP_POLICY_INSTANCE") == []


def test_the_sandbox_policy_passes_the_checks():
    assert checks.run_checks(tags=["ormai_django"]) == []


def test_check_policy_can_be_called_directly():
    with override_settings(ORMAI={"POLICY": f"{HERE}.good_policy"}):
        assert check_policy() == []
    with override_settings(ORMAI={"POLICY": f"{HERE}.unknown_model_policy"}):
        assert ids(check_policy()) == ["ormai_django.E001"]


# --- E001: a policy that can't be built or loaded -------------------------------------


@pytest.mark.parametrize(
    ("factory", "names"),
    [
        ("unknown_model_policy", ["shop.Invoice"]),
        ("unknown_field_policy", ["shop.Customer", "'nickname'"]),
        ("tenant_scope_without_field_policy", ["auth.Group", "tenant_id"]),
    ],
)
def test_misconfigured_policy_is_an_error_with_a_hint(factory, names):
    messages = ormai_messages(f"{HERE}.{factory}")

    assert ids(messages) == ["ormai_django.E001"]
    (error,) = messages
    assert error.level == checks.ERROR
    assert error.is_serious()
    for name in names:
        assert name in error.msg
    assert error.hint
    assert "POLICY" in error.hint


def test_every_problem_of_the_policy_is_its_own_error():
    messages = ormai_messages(f"{HERE}.many_problems_policy")

    assert ids(messages) == ["ormai_django.E001"] * 3
    text = "\n".join(m.msg for m in messages)
    assert "shop.Invoice" in text
    assert "'nickname'" in text
    assert "auth.Group" in text


@pytest.mark.parametrize(
    "path",
    [
        f"{HERE}.no_such_policy",
        "no_such_package.policy.build_policy",
        "not-a-dotted-path",
    ],
)
def test_unimportable_policy_path_is_an_error(path):
    messages = ormai_messages(path)

    assert ids(messages) == ["ormai_django.E001"]
    assert path in messages[0].msg
    assert messages[0].hint


def test_a_path_to_something_that_is_not_a_policy_is_an_error():
    messages = ormai_messages(f"{HERE}.NOT_A_POLICY")

    assert ids(messages) == ["ormai_django.E001"]
    assert "dict" in messages[0].msg


def test_a_policy_factory_that_raises_is_an_error_not_a_crash():
    messages = ormai_messages(f"{HERE}.raises_value_error")

    assert ids(messages) == ["ormai_django.E001"]
    assert "raised ValueError" in messages[0].msg
    assert "approvers" in messages[0].msg


def test_execute_refuses_every_call_while_the_policy_factory_raises():
    ctx = ToolContext(principal="agent:support-bot", tenant_id=7)
    with override_settings(ORMAI={"POLICY": f"{HERE}.raises_value_error"}):
        result = execute({"name": "db.query", "arguments": {"model": "Order"}}, ctx)

    assert result["outcome"] == "error"
    assert result["error"]["code"] == "POLICY_NOT_CONFIGURED"


def test_rules_on_models_not_open_to_writes_are_warnings_naming_the_rule():
    messages = ormai_messages(f"{HERE}.dead_rules_policy")

    assert ids(messages) == ["ormai_django.W003", "ormai_django.W003"]
    assert "require_approval on shop.Order never applies" in messages[0].msg
    assert "bounded_burst on shop.Note never applies" in messages[1].msg
    assert all("enable_writes" in m.hint for m in messages)


# --- E002: the masker -----------------------------------------------------------------


@pytest.mark.parametrize(
    "masker", ["no_such_module.Masker", f"{__name__}.NOT_A_MASKER", "tests.NoSuchMasker"]
)
def test_a_masker_that_cannot_be_used_is_an_error_with_a_hint(masker):
    with override_settings(ORMAI={"POLICY": f"{HERE}.good_policy", "MASKER": masker}):
        messages = checks.run_checks(tags=["ormai_django"])

    assert ids(messages) == ["ormai_django.E002"]
    assert masker in messages[0].msg
    assert "mask(value, kind, field)" in messages[0].hint


def test_a_custom_masker_passes_the_checks():
    with override_settings(
        ORMAI={"POLICY": f"{HERE}.good_policy", "MASKER": f"{__name__}.UpperMasker"}
    ):
        assert checks.run_checks(tags=["ormai_django"]) == []


NOT_A_MASKER = object()


# --- W001: no policy ------------------------------------------------------------------


@pytest.mark.parametrize("ormai", [{}, {"POLICY": None}, {"POLICY": ""}])
def test_unset_policy_is_a_warning_with_a_hint(ormai):
    with override_settings(ORMAI=ormai):
        messages = checks.run_checks(tags=["ormai_django"])

    assert ids(messages) == ["ormai_django.W001"]
    assert messages[0].level == checks.WARNING
    assert not messages[0].is_serious()
    assert "POLICY" in messages[0].hint


def test_missing_ormai_setting_is_a_warning():
    # Entering override_settings(ORMAI=...) reloads ormai_settings; deleting sends no signal.
    with override_settings(ORMAI={"POLICY": f"{HERE}.good_policy"}):
        del settings.ORMAI
        messages = checks.run_checks(tags=["ormai_django"])

    assert ids(messages) == ["ormai_django.W001"]


# --- W002: writes without history -----------------------------------------------------


def test_write_enabled_model_without_history_is_a_warning():
    messages = ormai_messages(f"{HERE}.writes_without_history_policy")

    assert ids(messages) == ["ormai_django.W002"]
    (warning,) = messages
    assert warning.obj is Group
    assert "auth.Group" in warning.msg
    assert "HistoricalRecords" in warning.hint


def test_read_only_model_without_history_is_not_a_warning():
    assert ormai_messages(f"{HERE}.read_only_model_without_history_policy") == []


# --- settings accessor and policy cache -----------------------------------------------


def current_ormai_settings():
    return {name: getattr(ormai_settings, name) for name in ("POLICY", "MASKER", "MAX_CALL_BYTES")}


def test_ormai_settings_reload_under_override_settings():
    sandbox = {
        "POLICY": "sandbox_project.shop.policy.build_policy",
        "MASKER": DEFAULTS["MASKER"],
        "MAX_CALL_BYTES": DEFAULTS["MAX_CALL_BYTES"],
    }
    assert current_ormai_settings() == sandbox

    with override_settings(ORMAI={"POLICY": f"{HERE}.good_policy", "MAX_CALL_BYTES": 512}):
        assert current_ormai_settings() == {
            "POLICY": f"{HERE}.good_policy",
            "MASKER": DEFAULTS["MASKER"],
            "MAX_CALL_BYTES": 512,
        }

    assert current_ormai_settings() == sandbox


def test_ormai_settings_refuse_unknown_names():
    with pytest.raises(AttributeError, match="MAX_CALLS"):
        _ = ormai_settings.MAX_CALLS


class UpperMasker(DefaultMasker):
    def mask(self, value, kind, field):
        return "MASKED"


def test_masker_cache_follows_the_setting():
    assert type(get_masker()) is DefaultMasker

    with override_settings(ORMAI={"POLICY": None, "MASKER": f"{__name__}.UpperMasker"}):
        assert type(get_masker()) is UpperMasker

    assert type(get_masker()) is DefaultMasker


def test_policy_cache_is_cleared_when_the_setting_changes():
    sandbox = get_policy()
    assert get_policy() is sandbox
    assert sandbox.for_model(Customer) is not None

    with override_settings(ORMAI={"POLICY": f"{HERE}.group_only_policy"}):
        inside = get_policy()
        assert [mp.label for mp in inside.models] == ["auth.Group"]
        assert get_policy() is inside

    after = get_policy()
    assert after is not inside
    assert after.for_model(Customer) is not None
    assert after.for_model(Group) is None


def test_execute_uses_the_policy_of_the_current_setting():
    Group.objects.create(name="support")
    ctx = ToolContext(principal="agent:support-bot", tenant_id=7)
    call = {"name": "db.query", "arguments": {"model": "Group"}}

    before = execute(call, ctx)
    assert (before["outcome"], before["error"]["code"]) == ("error", "UNKNOWN_MODEL")
    with override_settings(ORMAI={"POLICY": f"{HERE}.group_only_policy"}):
        result = execute(call, ctx)
    assert result["outcome"] == "ok"
    assert [row["name"] for row in result["rows"]] == ["support"]
    assert execute(call, ctx)["error"]["code"] == "UNKNOWN_MODEL"


# --- manage.py check ------------------------------------------------------------------


@pytest.mark.slow
def test_manage_py_check_passes_for_the_sandbox(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("ORMAI_DB", "DJANGO_SETTINGS_MODULE")}
    env["ORMAI_SQLITE_PATH"] = str(tmp_path / "check.sqlite3")

    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
    assert "ormai_django." not in result.stdout + result.stderr


# --- E003: the HTTP API's pluggable classes ---------------------------------------------


@pytest.mark.parametrize(
    "override",
    [
        {"CONTEXT_RESOLVER": "myproject.nowhere.Resolver"},
        {"API_AUTHENTICATION_CLASSES": ["rest_framework.authentication.NoSuchAuthentication"]},
    ],
    ids=["resolver", "authentication class"],
)
def test_an_api_class_that_cannot_be_imported_is_an_error_with_a_hint(override):
    with override_settings(ORMAI={"POLICY": f"{HERE}.good_policy", **override}):
        messages = checks.run_checks(tags=["ormai_django"])

    assert ids(messages) == ["ormai_django.E003"]
    (path,) = [v if isinstance(v, str) else v[0] for v in override.values()]
    assert path in messages[0].msg
    assert "dotted path" in messages[0].hint
