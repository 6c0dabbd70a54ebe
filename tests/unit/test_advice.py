"""The advisor's rules (rekey.domain.advice): each recommendation from fixture CloudTrail events in
CloudTrail's shapes, mixed evidence, thin evidence and none."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from rekey_dev import trail_events as te

from rekey.domain.advice import (
    Confidence,
    Evidence,
    Fired,
    Recommendation,
    UnusedFinding,
    access_key_of,
    advise,
    kind_of,
    profile,
    use_of,
    uses_of,
)
from rekey.domain.models import KeyUse
from rekey.domain.networks import (
    AWS,
    GITHUB_ACTIONS,
    Networks,
    NetworksError,
    from_aws_ip_ranges,
    from_github_meta,
    from_named,
    pinned,
)

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
ACCOUNT, USER, KEY = "111122223333", "svc", "AKIAEXAMPLE000000001"
NETS = pinned()


def evidence(records: list[dict], *, created_days: int = 200, last_used: KeyUse | None = None) -> Evidence:
    uses = tuple(uses_of(records))
    if last_used is None and uses:
        newest = max(uses, key=lambda u: u.at)
        last_used = KeyUse(newest.at, newest.source.split(".")[0], newest.region)
    return Evidence(KEY, NOW - timedelta(days=created_days), last_used, uses, ("fixture",))


def rec(**kw) -> dict:
    base = {"account_id": ACCOUNT, "user_name": USER, "key_id": KEY, "at": NOW - timedelta(days=1)}
    return te.record(**{**base, **kw})


def test_github_actions_workflow_is_github_oidc_with_high_confidence():
    advice = advise(evidence(te.github_workflow_runs(ACCOUNT, USER, KEY, NOW - timedelta(hours=3))), NETS, NOW)
    assert advice.recommendation is Recommendation.GITHUB_OIDC
    assert advice.confidence is Confidence.HIGH
    cited = " ".join(f.evidence for f in advice.fired)
    assert "configure-aws-credentials-for-github-actions" in cited
    assert "GitHub Actions' runner ranges" in cited


def test_lambda_is_role_on_compute_by_its_execution_environment():
    advice = advise(evidence(te.lambda_calls(ACCOUNT, USER, KEY, NOW - timedelta(hours=1))), NETS, NOW)
    assert (advice.recommendation, advice.confidence) == (Recommendation.ROLE_ON_COMPUTE, Confidence.HIGH)
    assert any("exec-env/AWS_Lambda_python3.11" in f.evidence for f in advice.fired)


@pytest.mark.parametrize("env", ["AWS_ECS_FARGATE", "AWS_ECS_EC2", "AWS_Lambda_nodejs20.x", "AWS_Lambda_java21"])
def test_each_compute_execution_environment_is_a_marker(env):
    use = use_of(
        rec(source="s3.amazonaws.com", action="GetObject", agent=f"aws-sdk-x/1 exec-env/{env}", address="198.51.100.7")
    )
    kind = kind_of(use, NETS)
    assert kind is not None and kind.says is Recommendation.ROLE_ON_COMPUTE and kind.marker


def test_codecommit_git_is_keep_whatever_else_uses_the_key():
    records = te.codecommit_pushes(ACCOUNT, USER, KEY, NOW - timedelta(days=1))
    records += te.lambda_calls(ACCOUNT, USER, KEY, NOW - timedelta(hours=2), calls=2)
    advice = advise(evidence(records), NETS, NOW)
    assert (advice.recommendation, advice.confidence) == (Recommendation.KEEP, Confidence.HIGH)
    assert "CodeCommit" in advice.why and "2 other use(s)" in advice.why
    assert any("credential helper" in f.evidence for f in advice.fired)


def test_codecommit_api_calls_other_than_git_are_not_keep():
    records = [
        rec(
            source="codecommit.amazonaws.com",
            action="ListRepositories",
            agent=te.LAMBDA_PYTHON,
            address=te.LAMBDA_ADDRESS,
        )
    ]
    assert advise(evidence(records), NETS, NOW).recommendation is Recommendation.ROLE_ON_COMPUTE


def test_keyspaces_is_keep():
    records = [
        rec(source="cassandra.amazonaws.com", action="CreateTable", agent="java-driver sigv4", address="198.51.100.9")
    ]
    advice = advise(evidence(records), NETS, NOW)
    assert advice.recommendation is Recommendation.KEEP and "Keyspaces" in advice.why


def test_never_used_old_key_is_delete():
    advice = advise(Evidence(KEY, NOW - timedelta(days=400), None, (), ("fixture",)), NETS, NOW)
    assert (advice.recommendation, advice.confidence) == (Recommendation.DELETE, Confidence.HIGH)
    assert "never used in its 400 days" in advice.why


def test_a_key_last_used_long_ago_is_delete():
    last = KeyUse(NOW - timedelta(days=120), "s3", "us-east-1")
    advice = advise(Evidence(KEY, NOW - timedelta(days=400), last, (), ("fixture",)), NETS, NOW, unused_days=90)
    assert advice.recommendation is Recommendation.DELETE and "120 days ago" in advice.why


def test_a_young_unused_key_is_unknown_not_delete():
    advice = advise(Evidence(KEY, NOW - timedelta(days=10), None, (), ("fixture",)), NETS, NOW)
    assert advice.recommendation is Recommendation.UNKNOWN and "too young" in advice.why


def test_recent_use_without_any_event_is_unknown():
    last = KeyUse(NOW - timedelta(days=2), "s3", "eu-west-1")
    advice = advise(Evidence(KEY, NOW - timedelta(days=300), last, (), ("cloudtrail:LookupEvents",)), NETS, NOW)
    assert advice.recommendation is Recommendation.UNKNOWN
    assert "s3 in eu-west-1" in advice.why and "LookupEvents" in advice.why


def test_workstation_is_identity_center_by_hint_only_with_enough_uses():
    few = [rec(source="s3.amazonaws.com", action="ListBuckets", agent=te.LAPTOP_CLI, address=te.OFFICE_ADDRESS)]
    assert advise(evidence(few), NETS, NOW).recommendation is Recommendation.UNKNOWN
    many = [
        rec(
            at=NOW - timedelta(hours=n),
            source="s3.amazonaws.com",
            action="ListBuckets",
            agent=te.LAPTOP_CLI,
            address=te.OFFICE_ADDRESS,
        )
        for n in range(4)
    ]
    advice = advise(evidence(many), NETS, NOW)
    assert (advice.recommendation, advice.confidence) == (Recommendation.IDENTITY_CENTER, Confidence.MEDIUM)


def test_cloudshell_is_identity_center_by_marker():
    records = [
        rec(
            source="ec2.amazonaws.com",
            action="DescribeInstances",
            agent="aws-cli/2.17 exec-env/CloudShell",
            address="3.84.1.1",
        )
    ]
    assert advise(evidence(records), NETS, NOW).recommendation is Recommendation.IDENTITY_CENTER


def test_server_outside_aws_is_roles_anywhere():
    records = [
        rec(
            at=NOW - timedelta(hours=n),
            source="s3.amazonaws.com",
            action="PutObject",
            agent=te.SERVER_SDK,
            address="198.51.100.20",
        )
        for n in range(5)
    ]
    advice = advise(evidence(records), NETS, NOW)
    assert (advice.recommendation, advice.confidence) == (Recommendation.ROLES_ANYWHERE, Confidence.MEDIUM)


def test_other_ci_by_its_published_ranges():
    nets = NETS.merged(from_named({"ci:circleci": ["192.0.2.0/24"]}))
    records = [
        rec(
            at=NOW - timedelta(hours=n),
            source="ecr.amazonaws.com",
            action="GetAuthorizationToken",
            agent=te.SERVER_SDK,
            address="192.0.2.8",
        )
        for n in range(3)
    ]
    advice = advise(evidence(records), nets, NOW)
    assert advice.recommendation is Recommendation.CI_OIDC
    assert any("circleci" in f.evidence for f in advice.fired)


def test_mixed_markers_are_unknown_and_name_each_use():
    records = te.github_workflow_runs(ACCOUNT, USER, KEY, NOW - timedelta(hours=2), runs=2)
    records += te.lambda_calls(ACCOUNT, USER, KEY, NOW - timedelta(hours=1), calls=3)
    advice = advise(evidence(records), NETS, NOW)
    assert advice.recommendation is Recommendation.UNKNOWN
    assert "github-oidc" in advice.why and "role-on-compute" in advice.why and "split" in advice.why
    assert {f.says for f in advice.fired} == {Recommendation.GITHUB_OIDC, Recommendation.ROLE_ON_COMPUTE}


def test_a_marker_outweighs_hints_elsewhere_at_medium_confidence():
    # a self-hosted runner on EC2: the action's user agent from an AWS address
    records = [
        rec(source="sts.amazonaws.com", action="GetCallerIdentity", agent=te.GITHUB_ACTION, address=te.LAMBDA_ADDRESS)
    ]
    records += [rec(source="s3.amazonaws.com", action="PutObject", agent=te.SERVER_SDK, address=te.LAMBDA_ADDRESS)]
    advice = advise(evidence(records), NETS, NOW)
    assert (advice.recommendation, advice.confidence) == (Recommendation.GITHUB_OIDC, Confidence.MEDIUM)


def test_hints_of_two_kinds_without_a_marker_are_unknown():
    records = [
        rec(
            at=NOW - timedelta(hours=n),
            source="s3.amazonaws.com",
            action="GetObject",
            agent=te.SERVER_SDK,
            address=addr,
        )
        for n, addr in enumerate(["3.84.1.1", "3.84.1.2", "198.51.100.1", "198.51.100.2"])
    ]
    assert advise(evidence(records), NETS, NOW).recommendation is Recommendation.UNKNOWN


def test_aws_acting_for_someone_says_nothing():
    records = [rec(source="kms.amazonaws.com", action="Decrypt", agent="AWS Internal", address="AWS Internal")]
    advice = advise(evidence(records), NETS, NOW)
    assert advice.recommendation is Recommendation.UNKNOWN and "none that tells" in advice.why


def test_events_outside_the_window_are_not_evidence():
    old = te.lambda_calls(ACCOUNT, USER, KEY, NOW - timedelta(days=100))
    ev = Evidence(KEY, NOW - timedelta(days=300), KeyUse(NOW - timedelta(days=1)), tuple(uses_of(old)), ("x",), 90)
    assert advise(ev, NETS, NOW).recommendation is Recommendation.UNKNOWN


def test_lookup_events_strings_and_records_parse_alike():
    r = te.lambda_calls(ACCOUNT, USER, KEY, NOW)[0]
    assert uses_of([json.dumps(r), r, "not json", {"no": "event"}]) == [use_of(r), use_of(r)]
    assert access_key_of(r) == KEY and access_key_of({"userIdentity": {"type": "AWSService"}}) is None


def test_profile_counts_services_agents_addresses_by_network():
    p = profile(uses_of(te.github_workflow_runs(ACCOUNT, USER, KEY, NOW, runs=3)), NETS)
    assert p.volume == 6 and p.services == {"sts.amazonaws.com": 3, "s3.amazonaws.com": 3}
    assert p.addresses == {f"{te.GITHUB_RUNNER_ADDRESS} (github-actions)": 6}


def test_networks_from_the_published_files():
    aws = from_aws_ip_ranges(
        {"createDate": "2026-11-30-10-00-00", "prefixes": [{"ip_prefix": "198.51.100.0/24"}], "ipv6_prefixes": []}
    )
    gh = from_github_meta({"actions": ["192.0.2.0/24", "2001:db8::/32"]})
    nets = aws.merged(gh)
    assert nets.owner("198.51.100.3") == AWS and nets.owner("192.0.2.3") == GITHUB_ACTIONS
    assert nets.owner("2001:db8::1") == GITHUB_ACTIONS and nets.owner("203.0.113.1") is None
    assert "2026-11-30" in nets.source
    for bad in ({"prefixes": "x"}, [], {"prefixes": [{"ip_prefix": "not-a-cidr"}]}):
        with pytest.raises(NetworksError):
            from_aws_ip_ranges(bad)
    with pytest.raises(NetworksError, match="not aws, github-actions"):
        from_named({"gitlab": ["192.0.2.0/24"]})


def test_github_ranges_win_over_aws_when_both_hold_an_address():
    nets = Networks(
        {
            AWS: from_named({"aws": ["10.0.0.0/8"]}).ranges["aws"],
            GITHUB_ACTIONS: from_named({"github-actions": ["10.1.0.0/16"]}).ranges["github-actions"],
        }
    )
    assert nets.owner("10.1.2.3") == GITHUB_ACTIONS and nets.owner("10.2.0.1") == AWS


def test_a_user_agent_is_shown_printable_and_bounded():
    agent = "evil\x1b[2J\r\n" + "x" * 500
    p = profile(
        uses_of([rec(source="s3.amazonaws.com", action="GetObject", agent=agent, address="198.51.100.1")]), NETS
    )
    (shown,) = p.user_agents
    assert shown.startswith("evil?[2J??") and len(shown) == 200 and shown.isprintable()


# --------------------------------------------------------------------------- an unused-access analyzer's finding

UNUSED = UnusedFinding("f-1234", None)


def test_an_analyzers_finding_is_cited_with_the_unused_rule():
    unused = UnusedFinding("f-1234", NOW - timedelta(days=150))
    last = KeyUse(NOW - timedelta(days=150), "s3", "us-east-1")
    advice = advise(Evidence(KEY, NOW - timedelta(days=400), last, (), ("fixture",), unused=unused), NETS, NOW)
    assert (advice.recommendation, advice.confidence) == (Recommendation.DELETE, Confidence.HIGH)
    assert [f.rule for f in advice.fired] == ["unused", "access-analyzer"]
    assert (
        advice.fired[1].evidence
        == f"Access Analyzer: unused since {(NOW - timedelta(days=150)).date()}, finding f-1234"
    )


def test_a_young_never_used_key_stays_unknown_with_a_finding_cited():
    # The analyzer's tracking period may be shorter than rekey's unused days: a key created ten
    # days ago and not deployed yet is not one to delete.
    young = Evidence(KEY, NOW - timedelta(days=10), None, (), ("fixture",))
    assert advise(young, NETS, NOW).recommendation is Recommendation.UNKNOWN  # without the finding
    advice = advise(replace(young, unused=UNUSED), NETS, NOW)
    assert (advice.recommendation, advice.confidence) == (Recommendation.UNKNOWN, Confidence.LOW)
    assert advice.fired == (
        Fired("access-analyzer", Recommendation.DELETE, "Access Analyzer: never used, finding f-1234"),
    )
    assert "too young to call unused" in advice.why and "Access Analyzer already finds it unused" in advice.why


def test_a_finding_never_outweighs_events_signed_with_the_key():
    records = te.github_workflow_runs(ACCOUNT, USER, KEY, NOW - timedelta(hours=3))
    without = advise(evidence(records), NETS, NOW)
    advice = advise(replace(evidence(records), unused=UNUSED), NETS, NOW)
    assert (advice.recommendation, advice.confidence, advice.why) == (
        without.recommendation,
        without.confidence,
        without.why,
    )
    assert advice.recommendation is Recommendation.GITHUB_OIDC
    assert advice.fired[:-1] == without.fired
    assert advice.fired[-1].rule == "access-analyzer" and "outweighed: used" in advice.fired[-1].evidence


def test_a_finding_never_outweighs_a_recent_last_use_without_events():
    last = KeyUse(NOW - timedelta(days=2), "s3", "eu-west-1")
    advice = advise(Evidence(KEY, NOW - timedelta(days=300), last, (), ("fixture",), unused=UNUSED), NETS, NOW)
    assert advice.recommendation is Recommendation.UNKNOWN and "s3 in eu-west-1" in advice.why


def test_the_findings_own_last_access_is_a_use_like_any_other():
    # The analyzer's tracking period may be shorter than REKEY_ADVISOR_UNUSED_DAYS: its finding on
    # a key last used 40 days ago does not make it unused by rekey's 90 days.
    accessed = UnusedFinding("f-1234", NOW - timedelta(days=40))
    advice = advise(Evidence(KEY, NOW - timedelta(days=300), None, (), ("fixture",), unused=accessed), NETS, NOW)
    assert advice.recommendation is Recommendation.UNKNOWN
    assert advice.fired[-1].evidence.endswith(
        "(outweighed: used " + str((NOW - timedelta(days=40)).date()) + ", within 90 days)"
    )
