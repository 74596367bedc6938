"""System check W004: a key of settings.ORMAI that ormai_django doesn't know is a typo
worth a warning (its default silently applies otherwise); E004: ORMAI is not a dict."""

import pytest
from django.core import checks
from django.test import override_settings

pytestmark = pytest.mark.django_db

POLICY = "sandbox_project.shop.policy.build_policy"


def ormai_messages(ormai):
    with override_settings(ORMAI=ormai):
        return [m for m in checks.run_checks(tags=["ormai_django"]) if m.id.endswith("004")]


def test_an_unknown_key_is_a_warning_that_suggests_the_close_one():
    (message,) = ormai_messages({"POLICY": POLICY, "MAX_CAL_BYTES": 10})

    assert message.id == "ormai_django.W004"
    assert message.level == checks.WARNING
    assert "'MAX_CAL_BYTES'" in message.msg
    assert "Did you mean 'MAX_CALL_BYTES'?" in message.hint


def test_every_unknown_key_is_its_own_warning_and_known_keys_are_none():
    messages = ormai_messages({"POLICY": POLICY, "MASKER_CLASS": "x", "SLAK": 1})

    assert sorted(m.msg.split("'")[1] for m in messages) == ["MASKER_CLASS", "SLAK"]
    assert ormai_messages({"POLICY": POLICY, "MAX_CALL_BYTES": 10}) == []


def test_an_ormai_setting_that_is_not_a_dict_is_an_error():
    (message,) = ormai_messages(["POLICY"])

    assert message.id == "ormai_django.E004"
    assert message.is_serious()
