"""The controls (CIS 2.12, Security Hub IAM.3, the org policy), the cis preset and the findings'
mapping: pure rules, no network."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from rekey.domain.controls import (
    PRESETS,
    Control,
    Preset,
    Verdict,
    failing_days,
    first_failure,
    verdicts,
)
from rekey.domain.entities import ReportKey
from rekey.domain.errors import ConfigurationError
from rekey.domain.findings import KeyState, UserFinding, asff
from rekey.domain.models import InUsePolicy, Policy
from rekey.domain.policy import PolicyError, resolve_policy
from rekey.settings import Settings

ENV = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "REKEY_WORK_QUEUE_URL": "q",
    "REKEY_TOPIC_ARN": "arn:aws:sns:us-east-1:111122223333:rekey",
}
NOW = datetime(2026, 12, 3, 3, 0, tzinfo=UTC)


def test_the_cis_preset_deactivates_before_90_days_with_the_recipes_overlap() -> None:
    s = Settings.from_env({**ENV, "REKEY_POLICY_PRESET": "cis"})
    assert s.policy.describe() == "75/85/95" and s.policy.overlap_days == 10
    assert failing_days(s.policy) == 0
    recipe = Settings.from_env(ENV)
    assert recipe.policy.describe() == "90/100/110" and failing_days(recipe.policy) == 11


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        ({"REKEY_DEACTIVATE_AFTER_DAYS": "90", "REKEY_DELETE_AFTER_DAYS": "100"}, "until 90 days old"),
        ({"REKEY_IN_USE_POLICY": "defer"}, "up to 7 days deferred"),
        ({"REKEY_IN_USE_POLICY": "adopt"}, "adopt policy's deadline"),
        ({"REKEY_POLICY_PRESET": "strict"}, "REKEY_POLICY_PRESET"),
    ],
)
def test_the_cis_preset_refuses_a_policy_that_could_keep_a_key_active_past_it(extra, says) -> None:
    with pytest.raises(ConfigurationError) as raised:
        Settings.from_env({**ENV, "REKEY_POLICY_PRESET": "cis", **extra})
    assert says in str(raised.value) and "\n" not in str(raised.value)


def test_under_the_cis_preset_a_tag_cannot_make_a_key_fail_the_controls() -> None:
    s = Settings.from_env({**ENV, "REKEY_POLICY_PRESET": "cis", "REKEY_IN_USE_POLICY": "adopt",
                           "REKEY_MAX_DEACTIVATE_AFTER_DAYS": "85"})  # fmt: skip
    assert s.policy.latest_deactivation_days == 85
    with pytest.raises(PolicyError, match="cis preset"):
        resolve_policy({"rekey:deactivate-after-days": "92"}, s.policy, s.bounds)
    assert resolve_policy({"rekey:rotate-after-days": "60"}, s.policy, s.bounds).rotate_after_days == 60


def test_verdicts_by_control() -> None:
    recipe = PRESETS[Preset.RECIPE]
    assert verdicts(True, 95, recipe) == {
        Control.CIS_2_12: Verdict.FAIL,
        Control.IAM_3: Verdict.FAIL,
        Control.ORG_POLICY: Verdict.PASS,  # in its overlap, deactivated at 100
    }
    assert verdicts(True, 89, recipe)[Control.CIS_2_12] is Verdict.PASS
    assert verdicts(True, 90, recipe)[Control.IAM_3] is Verdict.FAIL
    assert verdicts(True, 100, recipe)[Control.ORG_POLICY] is Verdict.FAIL
    assert verdicts(False, 400, None) == {
        Control.CIS_2_12: Verdict.PASS,
        Control.IAM_3: Verdict.PASS,
        Control.ORG_POLICY: Verdict.NOT_APPLICABLE,
    }
    assert verdicts(False, 110, recipe)[Control.ORG_POLICY] is Verdict.FAIL  # past its deletion age
    deferring = Policy(90, 100, 110, in_use_policy=InUsePolicy.DEFER, in_use_max_defer_days=5)
    assert verdicts(True, 104, deferring)[Control.ORG_POLICY] is Verdict.PASS


def test_first_failure() -> None:
    created = date(2026, 1, 1)
    assert first_failure(created, created + timedelta(days=89), date(2026, 1, 2)) is None
    failure = first_failure(created, created + timedelta(days=100), date(2026, 1, 2))
    assert failure is not None and failure.first == created + timedelta(days=90)
    assert failure.last == created + timedelta(days=100)
    late = first_failure(created, None, date(2026, 6, 1))
    assert late is not None and late.first == date(2026, 6, 1) and late.last is None


def _finding(state: KeyState, *ages: tuple[bool, int]) -> dict:
    keys = [ReportKey(active, NOW - timedelta(days=age), slot=i + 1) for i, (active, age) in enumerate(ages)]
    return asff(UserFinding("arn:aws:iam::111122223333:user/svc", "svc", state, "why", keys), "111122223333",
                "eu-west-1", "aws", NOW)  # fmt: skip


@pytest.mark.parametrize(
    ("state", "ages", "compliance", "record", "severity"),
    [
        (KeyState.COMPLIANT, [(True, 10)], "PASSED", "ARCHIVED", "INFORMATIONAL"),
        (KeyState.COMPLIANT, [(True, 75)], "PASSED", "ARCHIVED", "INFORMATIONAL"),  # cis: rotated before 90
        (KeyState.COMPLIANT, [(True, 90)], "FAILED", "ACTIVE", "MEDIUM"),
        (KeyState.COMPLIANT, [(True, 95), (True, 5)], "FAILED", "ACTIVE", "MEDIUM"),
        (KeyState.COMPLIANT, [(False, 95), (True, 5)], "PASSED", "ARCHIVED", "INFORMATIONAL"),
        (KeyState.BLOCKED, [(True, 10)], "WARNING", "ACTIVE", "MEDIUM"),
        (KeyState.MISCONFIGURED, [(True, 10)], "WARNING", "ACTIVE", "MEDIUM"),
        (KeyState.REFUSED, [(True, 10)], "WARNING", "ACTIVE", "HIGH"),
        (KeyState.REFUSED, [(True, 200)], "FAILED", "ACTIVE", "HIGH"),
        (KeyState.NOT_ADOPTED, [(True, 10)], "PASSED", "ARCHIVED", "INFORMATIONAL"),
        (KeyState.NOT_ADOPTED, [(True, 400)], "FAILED", "ACTIVE", "MEDIUM"),
    ],
)
def test_a_finding_is_active_exactly_while_a_control_fails_or_someone_must_act(
    state, ages, compliance, record, severity
) -> None:
    f = _finding(state, *ages)
    assert (f["Compliance"]["Status"], f["RecordState"]) == (compliance, record)
    assert f["FindingProviderFields"]["Severity"]["Label"] == severity
    assert f["ProductArn"] == "arn:aws:securityhub:eu-west-1:111122223333:product/111122223333/default"
    assert f["Id"] == _finding(KeyState.BLOCKED)["Id"]  # one finding per user, whatever its state
