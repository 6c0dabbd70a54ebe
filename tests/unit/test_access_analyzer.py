"""The advisor's third source of evidence: an unused-access analyzer's UnusedIAMUserAccessKey
findings (rekey.adapters.access_analyzer). moto has no Access Analyzer: the adapter is tested
against botocore's Stubber, which checks every request's parameters and every answer's shape
against Access Analyzer's own service model (botocore/data/accessanalyzer). Then the advisor
over a fake of the port: `rekey advise`, and the scheduled advisor inside a scan."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.stub import Stubber
from rekey_cli import cli
from rekey_dev import trail_events as te

from rekey.adapters.access_analyzer import FINDING_TYPE, UnusedKeyFindings
from rekey.domain import errors
from rekey.domain.advice import Recommendation, UnusedFinding, UnusedKeys
from rekey.domain.entities import Account
from rekey.domain.networks import pinned
from rekey.runtime import Runtime
from rekey.settings import Settings
from rekey.use_cases.advise import ANALYZER_NOT_READ, advise_account, advisor_of
from tests.fakes import ACCOUNT, NOW, FakePorts
from tests.unit.test_sessions import ENV, FakeSts

ANALYZER = "arn:aws:access-analyzer:eu-west-1:999988887777:analyzer/org-unused-access"
OTHER_ACCOUNT = "444455556666"
TAG = {"rekey:rotate": "true"}
FILTER = {
    "findingType": {"eq": [FINDING_TYPE]},
    "resourceType": {"eq": ["AWS::IAM::User"]},
    "resourceOwnerAccount": {"eq": [ACCOUNT]},
    "status": {"eq": ["ACTIVE"]},
}


def user_arn(name: str, path: str = "/") -> str:
    return f"arn:aws:iam::{ACCOUNT}:user{path}{name}"


def summary(finding_id: str, resource: str, **overrides: Any) -> dict[str, Any]:
    """A FindingSummaryV2 as ListFindingsV2 answers it (every required member)."""
    return {
        "analyzedAt": NOW - timedelta(hours=3),
        "createdAt": NOW - timedelta(days=20),
        "updatedAt": NOW - timedelta(hours=3),
        "id": finding_id,
        "resource": resource,
        "resourceType": "AWS::IAM::User",
        "resourceOwnerAccount": ACCOUNT,
        "status": "ACTIVE",
        "findingType": FINDING_TYPE,
        **overrides,
    }


def finding(finding_id: str, resource: str, key_id: str, last_accessed: Any = None, **extra: Any) -> dict[str, Any]:
    """GetFindingV2's answer for an unused access key."""
    details: dict[str, Any] = {"accessKeyId": key_id}
    if last_accessed is not None:
        details["lastAccessed"] = last_accessed
    answer = {**summary(finding_id, resource), "findingDetails": [{"unusedIamUserAccessKeyDetails": details}]}
    answer.update(extra)
    return answer


def stubbed() -> tuple[Any, Stubber]:
    # One attempt: an error answer is seen as it is, and nothing waits to retry.
    client = boto3.client(
        "accessanalyzer",
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"total_max_attempts": 1}),
    )
    return client, Stubber(client)


def list_call(token: str | None = None) -> dict[str, Any]:
    return {"analyzerArn": ANALYZER, "filter": FILTER, **({"nextToken": token} if token else {})}


def test_the_findings_on_the_keys_asked_are_read_through_every_page_and_nothing_else() -> None:
    client, stub = stubbed()
    last = NOW - timedelta(days=130)
    # Page 1: a finding on an advised user (read), one on a user not advised (never fetched).
    stub.add_response(
        "list_findings_v2",
        {
            "findings": [summary("f-ci", user_arn("ci", "/apps/")), summary("f-bob", user_arn("untagged-bob"))],
            "nextToken": "page-2",
        },
        list_call(),
    )
    stub.add_response(
        "get_finding_v2",
        finding("f-ci", user_arn("ci", "/apps/"), "AKIACI00000000000001", last),
        {"analyzerArn": ANALYZER, "id": "f-ci"},
    )
    # Page 2: the old (inactive, so not asked) key of an advised user: fetched, then ignored; and
    # a never-used key, whose details come in two pages.
    stub.add_response(
        "list_findings_v2",
        {"findings": [summary("f-ci-old", user_arn("ci", "/apps/")), summary("f-idle", user_arn("idle"))]},
        list_call("page-2"),
    )
    stub.add_response(
        "get_finding_v2",
        finding("f-ci-old", user_arn("ci", "/apps/"), "AKIACIOLD00000000001"),
        {"analyzerArn": ANALYZER, "id": "f-ci-old"},
    )
    stub.add_response(
        "get_finding_v2",
        {**finding("f-idle", user_arn("idle"), "AKIAOTHERDETAIL00001"), "nextToken": "details-2"},
        {"analyzerArn": ANALYZER, "id": "f-idle"},
    )
    stub.add_response(
        "get_finding_v2",
        finding("f-idle", user_arn("idle"), "AKIAIDLE000000000001"),
        {"analyzerArn": ANALYZER, "id": "f-idle", "nextToken": "details-2"},
    )
    keys = {"ci": ["AKIACI00000000000001"], "idle": ["AKIAIDLE000000000001"]}
    with stub:
        found = UnusedKeyFindings(client, ANALYZER).unused_keys(ACCOUNT, keys)
        stub.assert_no_pending_responses()
    assert found.findings == {
        "AKIACI00000000000001": UnusedFinding("f-ci", last),
        "AKIAIDLE000000000001": UnusedFinding("f-idle", None),
    }
    assert found.complete and found.calls == 6
    assert found.findings["AKIAIDLE000000000001"].cited() == "Access Analyzer: never used, finding f-idle"
    assert (
        found.findings["AKIACI00000000000001"].cited() == f"Access Analyzer: unused since {last.date()}, finding f-ci"
    )


def test_a_summary_the_filter_should_have_left_out_is_never_read() -> None:
    client, stub = stubbed()
    stub.add_response(
        "list_findings_v2",
        {
            "findings": [
                summary("f-role", user_arn("ci"), findingType="UnusedIAMUserPassword"),
                summary("f-archived", user_arn("ci"), status="ARCHIVED"),
                summary("f-elsewhere", user_arn("ci"), resourceOwnerAccount=OTHER_ACCOUNT),
            ]
        },
        list_call(),
    )
    with stub:
        found = UnusedKeyFindings(client, ANALYZER).unused_keys(ACCOUNT, {"ci": ["AKIACI00000000000001"]})
    assert found.findings == {} and found.calls == 1


def test_a_finding_resolved_since_it_was_listed_is_left_and_an_endless_token_stops() -> None:
    client, stub = stubbed()
    stub.add_response(
        "list_findings_v2", {"findings": [summary("f-ci", user_arn("ci"))], "nextToken": "t"}, list_call()
    )
    stub.add_client_error(
        "get_finding_v2",
        service_error_code="ResourceNotFoundException",
        service_message="finding f-ci not found",
        http_status_code=404,
        expected_params={"analyzerArn": ANALYZER, "id": "f-ci"},
    )
    stub.add_response("list_findings_v2", {"findings": [], "nextToken": "t"}, list_call("t"))
    with stub:
        found = UnusedKeyFindings(client, ANALYZER, max_pages=2).unused_keys(ACCOUNT, {"ci": ["AKIACI00000000000001"]})
        stub.assert_no_pending_responses()
    assert found.findings == {} and not found.complete and found.calls == 2


@pytest.mark.parametrize(
    ("code", "status", "kind"),
    [
        ("AccessDeniedException", 403, errors.AccessDenied),
        ("ResourceNotFoundException", 404, errors.NotFound),
        ("ValidationException", 400, errors.RekeyError),
    ],
)
def test_an_analyzer_that_cannot_be_read_is_one_clear_line(code: str, status: int, kind: type) -> None:
    client, stub = stubbed()
    stub.add_client_error(
        "list_findings_v2",
        service_error_code=code,
        service_message="User: arn:aws:sts::999988887777:assumed-role/rekey-scan/x is not authorized",
        http_status_code=status,
        expected_params=list_call(),
    )
    with stub, pytest.raises(kind) as raised:
        UnusedKeyFindings(client, ANALYZER).unused_keys(ACCOUNT, {"ci": ["AKIACI00000000000001"]})
    line = str(raised.value)
    assert len(line.splitlines()) == 1 and code in line and "access-analyzer:ListFindingsV2" in line
    assert "it must be in that account and region" in line


def test_the_runtime_reads_the_analyzer_set_in_its_region_with_its_own_credentials() -> None:
    made: list[tuple[str, dict[str, Any]]] = []

    def make_client(service: str, **kw: Any) -> Any:
        made.append((service, kw))
        return FakeSts("arn:aws:sts::111111111111:assumed-role/rekey-hub-scan/fn") if service == "sts" else object()

    assert Runtime.build(Settings.from_env(ENV), make_client).unused_access() is None
    rt = Runtime.build(Settings.from_env({**ENV, "REKEY_ADVISOR_ANALYZER_ARN": ANALYZER}), make_client)
    analyzer = rt.unused_access()
    assert analyzer is not None and analyzer is rt.unused_access() and analyzer.name.endswith("org-unused-access")
    ((service, kw),) = made
    # The hub's (or the shell's) own credentials: no role assumed, no keys passed.
    assert service == "accessanalyzer" and kw["region_name"] == "eu-west-1" and "aws_access_key_id" not in kw


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("arn:aws:iam::999988887777:role/x", "not an Access Analyzer ARN"),
        ("arn:aws-cn:access-analyzer:cn-north-1:999988887777:analyzer/a", "not in the hub's partition"),
    ],
)
def test_the_analyzer_setting_takes_an_analyzer_arn_of_the_hubs_partition(value: str, message: str) -> None:
    with pytest.raises(errors.ConfigurationError, match=message):
        Settings.from_env({**ENV, "REKEY_ADVISOR_ANALYZER_ARN": value})


# --------------------------------------------------------------------------- the advisor on the port


class Analyzer:
    """rekey.ports.UnusedAccess in memory: the findings it holds, by key; or a refusal."""

    name = "Access Analyzer org-unused-access"

    def __init__(self, findings: dict[str, UnusedFinding], refusal: errors.RekeyError | None = None) -> None:
        self.findings = findings
        self.refusal = refusal
        self.asked: list[tuple[str, dict[str, list[str]]]] = []

    def unused_keys(self, account_id: str, keys: Any) -> UnusedKeys:
        self.asked.append((account_id, {user: list(ids) for user, ids in keys.items()}))
        if self.refusal is not None:
            raise self.refusal
        return UnusedKeys({k: f for k, f in self.findings.items() if any(k in ids for ids in keys.values())}, calls=2)


def advised_ports(env: dict[str, str] | None = None) -> tuple[FakePorts, str, str, str]:
    """A young never-used key (too young to call unused by itself), a GitHub workflow's key, and
    an old unused key; the history has the workflow's events."""
    ports = FakePorts(env)
    (young,) = ports.iam.add_user("young", TAG, key_ages=(20,))
    (ci,) = ports.iam.add_user("ci", TAG, key_ages=(30,))
    (idle,) = ports.iam.add_user("idle", TAG, key_ages=(200,))
    ports.iam.use("ci", ci, NOW - timedelta(hours=2), service="sts")
    from tests.unit.test_advisor_sources import History

    ports.activity = [History(te.github_workflow_runs(ACCOUNT, "ci", ci, NOW - timedelta(hours=2), runs=3))]
    return ports, young, ci, idle


def test_the_advisor_reads_the_analyzer_for_the_keys_it_advises_and_cites_it() -> None:
    ports, young, ci, idle = advised_ports()
    ports.analyzer = Analyzer({k: UnusedFinding(f"f-{k[-4:]}", None) for k in (young, ci, idle)})
    result = advise_account(ports, Account(ACCOUNT, "payments"), advisor_of(ports, pinned()))
    ((account, asked),) = ports.analyzer.asked
    assert account == ACCOUNT and asked == {"ci": [ci], "idle": [idle], "young": [young]}
    by_user = {k.user_name: k for k in result.keys}
    # A young never-used key stays `unknown` (the analyzer's period does not shorten rekey's); the
    # finding is cited with it.
    young_advice = by_user["young"].advice
    assert (young_advice.recommendation.value, young_advice.confidence.value) == ("unknown", "low")
    assert [f.rule for f in young_advice.fired] == ["access-analyzer"]
    assert by_user["idle"].advice.recommendation is Recommendation.DELETE
    # A key in use stays what its use says; the finding is cited as outweighed.
    ci_advice = by_user["ci"].advice
    assert ci_advice.recommendation is Recommendation.GITHUB_OIDC
    assert any("outweighed" in f.evidence for f in ci_advice.fired)
    assert all(k.sources[-1] == "Access Analyzer org-unused-access" for k in result.keys)
    assert result.gaps == [] and result.calls == 2


def test_without_an_analyzer_the_sources_say_it_was_not_read_and_a_refusal_is_a_gap() -> None:
    ports, _, _, _ = advised_ports()
    result = advise_account(ports, Account(ACCOUNT, "payments"), advisor_of(ports, pinned()))
    assert {k.sources[-1] for k in result.keys} == {ANALYZER_NOT_READ}
    assert next(k for k in result.keys if k.user_name == "young").advice.recommendation is Recommendation.UNKNOWN
    ports.analyzer = Analyzer({}, errors.AccessDenied("access-analyzer:ListFindingsV2 x: AccessDeniedException"))
    result = advise_account(ports, Account(ACCOUNT, "payments"), advisor_of(ports, pinned()))
    assert result.error is None and len(result.keys) == 3
    assert result.gaps == [
        "Access Analyzer org-unused-access: access-denied: access-analyzer:ListFindingsV2 x: AccessDeniedException"
    ]
    assert all("Access Analyzer" not in s for k in result.keys for s in k.sources)


def test_rekey_advise_reads_the_analyzer_the_setting_names(capsys: Any) -> None:
    ports, young, _, _ = advised_ports()
    ports.analyzer = Analyzer({young: UnusedFinding("f-young", None)})
    assert cli.main(["advise"], operators=ports) == 0
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.strip().startswith("young "))
    assert "unknown (low)" in line and "Access Analyzer: never used, finding f-young" in out
    assert "read:     cloudtrail:LookupEvents, Access Analyzer org-unused-access" in out
    assert cli.main(["advise"], operators=advised_ports()[0]) == 0  # no REKEY_ADVISOR_ANALYZER_ARN
    assert ANALYZER_NOT_READ in capsys.readouterr().out


def test_the_scheduled_advisor_reads_the_analyzer_and_a_refusal_never_fails_the_scan() -> None:
    from rekey.use_cases.scan import scan_account

    ports, young, _, _ = advised_ports({"REKEY_ADVISOR": "daily"})
    ports.analyzer = Analyzer({young: UnusedFinding("f-young", None)})
    result = scan_account(ports, ports.org.accounts[0], "20261201T043000Z")
    assert result.advice == {"unknown": 1, "github-oidc": 1, "delete": 1}
    (advice,) = [
        f for f in ports.findings.by_id.values() if f["GeneratorId"] == "rekey-key-advice" and young in f["Id"]
    ]
    assert "Access Analyzer: never used, finding f-young" in advice["Description"]
    ports, _, _, _ = advised_ports({"REKEY_ADVISOR": "daily"})
    ports.analyzer = Analyzer({}, errors.NotFound("access-analyzer:ListFindingsV2 x: ResourceNotFoundException"))
    result = scan_account(ports, ports.org.accounts[0], "20261201T043000Z")
    assert result.error is None and result.advice == {"unknown": 1, "github-oidc": 1, "delete": 1}
