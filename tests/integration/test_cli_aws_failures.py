"""Every command with each of its AWS calls failing in turn: one line on stderr, never a
traceback, a non-zero exit after the rest was done; `rekey run` still does the work it can and
still attempts the digest. rotate-now and rollback make their calls in the hub (the emulator's
operator endpoint, in this process): a failure there comes back as the hub's answer.

Which calls each command makes is recorded on the emulator (test_the_calls_are_the_ones_listed),
so a command that starts making a new call fails that test until the call is listed here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from rekey.runtime import Runtime
from rekey.use_cases import operator
from rekey.use_cases.sweep import new_sweep_id, sweep
from tests.conftest import Operator, Org
from tests.faults import Faults
from tests.operators import TAG, run_cli

SCAN = [
    ("organizations", "ListAccounts"),
    ("sts", "AssumeRole"),
    ("iam", "GetAccountAuthorizationDetails"),
    ("iam", "ListAccessKeys"),
    ("iam", "GetAccessKeyLastUsed"),
    ("iam", "GenerateCredentialReport"),
    ("iam", "GetCredentialReport"),
    ("secretsmanager", "ListSecrets"),
    ("secretsmanager", "DescribeSecret"),
]
DRAIN = [("sqs", "GetQueueAttributes"), ("sqs", "ReceiveMessage"), ("sqs", "DeleteMessageBatch")]
ROTATION = [
    ("iam", "GetUser"),
    ("iam", "ListAccessKeys"),
    ("iam", "GetAccessKeyLastUsed"),
    ("iam", "ListAttachedUserPolicies"),
    ("iam", "ListGroupsForUser"),
    ("iam", "ListUserPolicies"),
    ("iam", "GetAccountAuthorizationDetails"),  # the account's roles, judged with the user (issue 27)
    ("iam", "CreateAccessKey"),
    ("secretsmanager", "DescribeSecret"),
    ("secretsmanager", "CreateSecret"),
    ("secretsmanager", "PutResourcePolicy"),
    ("secretsmanager", "PutSecretValue"),  # a first rotation: current at once, no UpdateSecretVersionStage
    ("secretsmanager", "UntagResource"),
    ("sts", "GetCallerIdentity"),
]
PUBLISH = ("sns", "Publish")
# The scan's Security Hub findings: a failure there is a warning and the command goes on
# (tests/integration/test_findings.py), so they are not among the failing calls below.
FINDINGS = {("securityhub", "BatchImportFindings"), ("securityhub", "GetFindings")}
# The hub's state table (the breaker, the waves): read by the sweep and a scan with a user due,
# read and counted by a worker about to change a key, read by `plan`. A failure there holds key
# changes and is announced (tests/integration/test_rollout.py): not among the failing calls below.
HUB_STATE = {("dynamodb", "BatchGetItem")}
COUNTED = {*HUB_STATE, ("dynamodb", "UpdateItem")}
# Not asked by the scan or the worker about a user with one key and no intent (its plan cannot
# depend on it); `plan` and `report` show it.
LAST_USE = ("iam", "GetAccessKeyLastUsed")
# Each command, the calls it makes on the day set up for it (in no particular order).
CREDENTIAL_REPORT = {("iam", "GenerateCredentialReport"), ("iam", "GetCredentialReport")}
OPERATOR = {("sts", "GetCallerIdentity")}  # who the operator is (rekey.runtime.Clients.as_person)
# rotate-now and rollback: the hub's calls (the operator's shell makes none; the hub learns who
# asks from the request's signature).
CALLS: dict[str, list[tuple[str, str]]] = {
    "run": sorted({*SCAN, *FINDINGS, *COUNTED, ("sqs", "SendMessageBatch"), *DRAIN, *ROTATION, PUBLISH} - {LAST_USE}),
    # One key and no intent: the worker does not ask when it was last used (an operator does).
    "work": sorted(
        {*DRAIN, *COUNTED, ("organizations", "ListAccounts"), ("sts", "AssumeRole"), *ROTATION, PUBLISH} - {LAST_USE}
    ),
    # A first rotation: the scan does not ask DescribeSecret about a secret the listing shows absent.
    "sweep": sorted(
        {*SCAN, *FINDINGS, *HUB_STATE, ("sqs", "SendMessageBatch"), PUBLISH}
        - {("secretsmanager", "DescribeSecret"), LAST_USE}
    ),
    "plan": sorted({*OPERATOR, *SCAN, *HUB_STATE} - {("secretsmanager", "ListSecrets"), *CREDENTIAL_REPORT}),
    "report": sorted({*OPERATOR, *SCAN} - {("secretsmanager", "ListSecrets")}),
    "rotate-now": sorted({("organizations", "ListAccounts"), ("sts", "AssumeRole"), *ROTATION, PUBLISH}),
    "rollback": sorted(
        {("organizations", "ListAccounts"), ("sts", "AssumeRole"), *ROTATION[:7]}
        | {("secretsmanager", "DescribeSecret"), ("secretsmanager", "TagResource"), PUBLISH}
    ),
}


def argv(command: str, org: Org) -> list[str]:
    user = ["--account", org.accounts["payments"], "--user", "svc"]
    return {"work": ["work", "--drain"], "rotate-now": ["rotate-now", *user], "rollback": ["rollback", *user]}.get(
        command, [command]
    )


def set_up(command: str, org: Org, runtime: Runtime) -> None:
    """The day `command` meets: a user due for rotation (queued already for `work`, rotated
    once already for `rollback`)."""
    org.create_user("payments", "svc", TAG)
    if command == "rollback":
        operator.rotate_now(runtime, "arn:aws:sts::123456789012:assumed-role/ops/bob", org.accounts["payments"], "svc")
    elif command != "rotate-now":
        org.age(91)
    if command == "work":
        sweep(runtime, new_sweep_id(runtime.now()))
    org.notifications()
    org.received.clear()


@pytest.fixture
def faulty_cli(org: Org, operator: Operator, monkeypatch: pytest.MonkeyPatch) -> Faults:
    """The CLI's runtime (and the hub's, serving rotate-now and rollback in this process) with
    calls counted and faults injected (botocore's retries decide, their backoff is not slept;
    IAM propagation waits are skipped). The shell is an operator's."""
    faults = Faults(instant_backoff=True)
    build = Runtime.build.__func__  # type: ignore[attr-defined]

    def faulty(cls: type[Runtime], settings: Any, make_client: Any = None) -> Runtime:
        rt = build(cls, settings, faults.make_client)
        rt.sleep = lambda _seconds: None
        return rt

    monkeypatch.setattr(Runtime, "build", classmethod(faulty))
    return faults


def digests_attempted(faults: Faults) -> Callable[[], int]:
    attempts: list[dict[str, Any]] = []
    faults.watch("sns", "Publish", lambda params: attempts.append(params) if "digest" in params["Subject"] else None)
    return lambda: len(attempts)


@pytest.mark.parametrize("command", list(CALLS))
def test_the_calls_are_the_ones_listed(
    org: Org, runtime: Runtime, faulty_cli: Faults, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    set_up(command, org, runtime)
    code, _, err = run_cli(capsys, *argv(command, org))
    assert (code, err) == (0, "")
    assert sorted(set(faulty_cli.log)) == CALLS[command]


# `run` is the sweep, then the worker over the queue, then the digest: every call of `sweep` and
# `work` fails in its cases. Those two fail here only in what is theirs alone.
FAILING: dict[str, list[tuple[str, str]]] = CALLS | {
    "run": [call for call in CALLS["run"] if call not in FINDINGS | COUNTED],
    "plan": [call for call in CALLS["plan"] if call not in HUB_STATE],
    "work": [*DRAIN, PUBLISH],
    "sweep": [("organizations", "ListAccounts"), ("sts", "AssumeRole"), ("sqs", "SendMessageBatch"), PUBLISH],
}
CASES = [
    pytest.param(command, service, operation, code, id=f"{command}-{service}:{operation}-{code}")
    for command, calls in FAILING.items()
    for service, operation in calls
    for code in (["AccessDenied", "InternalFailure"] if (service, operation) in DRAIN else ["AccessDenied"])
]


@pytest.mark.parametrize(("command", "service", "operation", "code"), CASES)
def test_each_call_failing(
    org: Org,
    runtime: Runtime,
    faulty_cli: Faults,
    capsys: pytest.CaptureFixture[str],
    command: str,
    service: str,
    operation: str,
    code: str,
) -> None:
    set_up(command, org, runtime)
    digests = digests_attempted(faulty_cli)
    faulty_cli.fail(service, operation, code, 403 if code == "AccessDenied" else 500, times=0)

    exit_code, out, err = run_cli(capsys, *argv(command, org))

    assert exit_code != 0, out
    assert "Traceback" not in err
    # The failure is one line (after whatever was logged on the way), and it names the call.
    last = err.splitlines()[-1] if err else ""
    assert last.startswith("rekey: ") and [line for line in err.splitlines() if line.startswith("rekey:")] == [last]
    assert operation in out + err
    if command in ("run", "sweep"):
        assert digests() == 1  # attempted, whatever failed before it
    if command == "run" and (service, operation) in (PUBLISH, ("sqs", "DeleteMessageBatch")):
        # What fails after the work does not undo it, nor lose its report; an item whose
        # announcement failed is left for retry, which announces it (late).
        assert len(org.keys("payments", "svc")) == 2
        if (service, operation) == PUBLISH:
            assert "1 failed (left for retry)" in out
        else:
            assert "rotate" in out and "done" in out
