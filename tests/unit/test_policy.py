"""Opt-in and per-user policy from tags; secret names."""

from __future__ import annotations

import pytest

from rekey.domain.models import Policy
from rekey.domain.naming import check_template, secret_name
from rekey.domain.policy import Bounds, OptIn, PolicyError, opt_in, owner, resolve_policy

DEFAULT = Policy(90, 100, 110)
BOUNDS = Bounds()
TAG = "rekey:rotate"


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ({}, OptIn.OUT),
        ({TAG: "true"}, OptIn.IN),
        ({TAG: "TRUE"}, OptIn.IN),
        ({TAG: "True"}, OptIn.IN),
        ({TAG: "false"}, OptIn.OUT),
        ({TAG: "False"}, OptIn.OUT),
        ({TAG: "yes"}, OptIn.INVALID),
        ({TAG: " true"}, OptIn.INVALID),
        ({TAG: ""}, OptIn.INVALID),
        ({"other": "true"}, OptIn.OUT),
    ],
)
def test_opt_in(tags: dict[str, str], expected: OptIn) -> None:
    assert opt_in(tags, TAG)[0] is expected


def test_invalid_opt_in_says_which_value_is_wrong() -> None:
    state, why = opt_in({TAG: "yes"}, TAG)
    assert state is OptIn.INVALID and "'yes'" in why


def test_overrides_apply_per_user() -> None:
    tags = {"rekey:rotate-after-days": "30", "rekey:deactivate-after-days": "40", "rekey:delete-after-days": "45"}
    assert resolve_policy(tags, DEFAULT, BOUNDS) == Policy(30, 40, 45)
    assert resolve_policy({"rekey:rotate-after-days": "60"}, DEFAULT, BOUNDS) == Policy(60, 100, 110)
    assert resolve_policy({}, DEFAULT, BOUNDS) == DEFAULT


@pytest.mark.parametrize(
    ("tags", "message"),
    [
        ({"rekey:rotate-after-days": "ninety"}, "not a whole number"),
        ({"rekey:rotate-after-days": "-5"}, "not a whole number"),
        ({"rekey:rotate-after-days": "9.5"}, "not a whole number"),
        ({"rekey:rotate-after-days": ""}, "not a whole number"),
        ({"rekey:rotate-after-days": "100"}, "rotate < deactivate < delete"),
        ({"rekey:deactivate-after-days": "120"}, "rotate < deactivate < delete"),
        ({"rekey:rotate-after-days": "0", "rekey:deactivate-after-days": "5"}, "outside the allowed"),
        (
            {"rekey:rotate-after-days": "95", "rekey:deactivate-after-days": "100"},
            "outside the allowed 30..90",
        ),
        # Attack: tags alone would take an in-use key away within two sweeps.
        (
            {"rekey:rotate-after-days": "1", "rekey:deactivate-after-days": "2", "rekey:delete-after-days": "3"},
            "outside the allowed 30..90",
        ),
        (
            {"rekey:rotate-after-days": "30", "rekey:deactivate-after-days": "32"},
            r"only 2 day\(s\) before the old key is deactivated; the allowed minimum overlap is 7",
        ),
        ({"rekey:delete-after-days": "400"}, "exceeds the allowed maximum 365"),
    ],
)
def test_invalid_overrides_make_the_user_misconfigured(tags: dict[str, str], message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        resolve_policy(tags, DEFAULT, BOUNDS)


def test_owner_tag() -> None:
    assert owner({"rekey:owner": "team-payments"}) == "team-payments"
    assert owner({"rekey:owner": "  "}) is None
    assert owner({}) is None


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        ("svc-deploy", "rekey/svc-deploy"),
        ("a,b", "rekey/a_b"),
        ("x+y=z.w@q_r-s", "rekey/x+y=z.w@q_r-s"),
    ],
)
def test_secret_name_sanitises_what_secrets_manager_rejects(user: str, expected: str) -> None:
    assert secret_name("rekey/{user_name}", user, "111111111111") == expected


def test_secret_name_template_may_use_the_account() -> None:
    assert secret_name("keys/{account_id}/{user_name}", "u", "111111111111") == "keys/111111111111/u"


@pytest.mark.parametrize("template", ["rekey/static", "rekey/{user}", "rekey/{user_name}/{0}"])
def test_bad_templates_are_rejected(template: str) -> None:
    with pytest.raises(ValueError):
        check_template(template)
