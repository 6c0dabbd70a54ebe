"""rekey's secrets judged by Prowler, a scanner nobody here wrote (issue 28), pinned in its own venv
(.tools/prowler, `make prowler-venv`): after a full rotation cycle on the emulator, Prowler runs
every one of its Secrets Manager checks in a member account, with that account's credentials,
against the emulator (AWS_ENDPOINT_URL), and each check's verdict on each rekey secret must be
the one EXPECTED records. Control secrets in the same account show that the judge can fail a
policy: one with rekey's policy from before issue 28, one whose policy has no deny by default,
one public. `make prowler` runs this test alone and prints the table (docs/compliance.md).

Prowler reads what moto stores: the resource policy as rekey put it, the rotation settings. moto
evaluates no resource policy, so a PASS here is Prowler's judgement of the document, not proof
that AWS enforces it (tests/unit/test_secret_policy.py evaluates it)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from rekey_dev import emulator as em
from rekey_dev import rotation

from tests.conftest import Org
from tests.operators import run_day, runtime_from_env

ROOT = Path(__file__).resolve().parents[2]
PROWLER = ROOT / ".tools" / "prowler" / "bin" / "prowler"
TAG = {"rekey:rotate": "true"}

# Each Secrets Manager check Prowler has, and its verdict on every rekey secret.
EXPECTED = {
    "secretsmanager_has_restrictive_resource_policy": "PASS",
    "secretsmanager_not_publicly_accessible": "PASS",
    # rekey is the secrets' Secrets Manager rotation (its relay, REKEY_ROTATION_RELAY): rotation
    # enabled on the user's schedule, LastRotatedDate set by every rotation.
    "secretsmanager_automatic_rotation_enabled": "PASS",
    "secretsmanager_secret_rotated_periodically": "PASS",
    # moto never sets LastAccessedDate (EMULATOR_NOTES): "never accessed" whatever the consumers do.
    "secretsmanager_secret_unused": "FAIL",
}
# The controls: (check, secret) -> verdict; a check with no entry has no finding on that secret.
CONTROLS = {
    ("secretsmanager_has_restrictive_resource_policy", "control/rekey-before-28"): "FAIL",
    ("secretsmanager_not_publicly_accessible", "control/rekey-before-28"): "PASS",
    ("secretsmanager_has_restrictive_resource_policy", "control/no-deny"): "FAIL",
    ("secretsmanager_not_publicly_accessible", "control/no-deny"): "PASS",
    ("secretsmanager_has_restrictive_resource_policy", "control/public"): "FAIL",
    ("secretsmanager_not_publicly_accessible", "control/public"): "FAIL",
}


def prowler() -> Path:
    if not PROWLER.exists():
        raise FileNotFoundError(f"{PROWLER} is missing: run `make prowler-venv` (Prowler in its own venv)")
    return PROWLER


def before_issue_28(user_arn: str, writer_arn: str) -> dict[str, Any]:
    """The policy rekey put on each secret before issue 28 (no break-glass role): an Allow to the
    user, a Deny of the value to all but the user and the writer, a Deny of every change."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "OwnerReadsOwnKey",
                "Effect": "Allow",
                "Principal": {"AWS": user_arn},
                "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
                "Resource": "*",
            },
            {
                "Sid": "NobodyElseReadsTheKey",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "secretsmanager:GetSecretValue",
                "Resource": "*",
                "Condition": {"ArnNotEquals": {"aws:PrincipalArn": [user_arn, writer_arn]}},
            },
            {
                "Sid": "OnlyRekeyChangesTheSecret",
                "Effect": "Deny",
                "Principal": "*",
                "NotAction": [
                    "secretsmanager:GetSecretValue",
                    "secretsmanager:DescribeSecret",
                    "secretsmanager:GetResourcePolicy",
                    "secretsmanager:ListSecretVersionIds",
                ],
                "Resource": "*",
                "Condition": {"ArnNotEquals": {"aws:PrincipalArn": [writer_arn]}},
            },
        ],
    }


def create_controls(org: Org, account: str) -> None:
    """Secrets that are not rekey's, beside rekey's, each with a policy the judge should fail."""
    account_id = org.accounts[account]
    app = f"arn:aws:iam::{account_id}:role/billing-app"
    allow_app = {"Effect": "Allow", "Principal": {"AWS": app}, "Action": "secretsmanager:*", "Resource": "*"}
    public = {"Effect": "Allow", "Principal": "*", "Action": "secretsmanager:GetSecretValue", "Resource": "*"}
    policies = {
        "control/rekey-before-28": before_issue_28(
            f"arn:aws:iam::{account_id}:user/svc-legacy", f"arn:aws:iam::{account_id}:role/rekey-spoke"
        ),
        "control/no-deny": {"Version": "2012-10-17", "Statement": [allow_app]},
        "control/public": {"Version": "2012-10-17", "Statement": [public]},
    }
    sm = org.client("secretsmanager", account)
    for name, policy in policies.items():
        sm.create_secret(Name=name, SecretString="not-a-credential")
        sm.put_resource_policy(SecretId=name, ResourcePolicy=json.dumps(policy))


def run_prowler(org: Org, account: str, out: Path) -> tuple[list[dict[str, Any]], float]:
    """Every Secrets Manager check of Prowler in `account` as its OrganizationAccountAccessRole;
    the OCSF findings and the run's seconds."""
    account_id = org.accounts[account]
    credentials = org.emulator.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{account_id}:role/OrganizationAccountAccessRole", RoleSessionName="prowler"
    )["Credentials"]
    config = out / "prowler.yaml"
    # With the organization trusted, the check also requires each policy's Deny outside it.
    config.write_text(json.dumps({"aws": {"organizations_trusted_ids": [org.organization_id]}}))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REKEY_", "AWS_"))}
    env.update(
        AWS_ENDPOINT_URL=org.emulator.url,
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ACCESS_KEY_ID=credentials["AccessKeyId"],
        AWS_SECRET_ACCESS_KEY=credentials["SecretAccessKey"],
        AWS_SESSION_TOKEN=credentials["SessionToken"],
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )
    command = [
        str(prowler()),
        "aws",
        "--service",
        "secretsmanager",
        "--region",
        "us-east-1",
        "--config-file",
        str(config),
        "--output-formats",
        "json-ocsf",
        "--output-directory",
        str(out),
        "--output-filename",
        "findings",
        "--no-banner",
        "--no-color",
        "--ignore-exit-code-3",  # failed checks are the subject, not an error
    ]
    started = time.monotonic()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    seconds = time.monotonic() - started
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads((out / "findings.ocsf.json").read_text()), seconds


def verdicts(findings: list[dict[str, Any]]) -> dict[tuple[str, str], str]:
    """(check, secret name) -> PASS/FAIL."""
    table: dict[tuple[str, str], str] = {}
    for finding in findings:
        check = finding["metadata"]["event_code"]
        for resource in finding["resources"]:
            key = (check, resource["name"])
            assert key not in table, key
            table[key] = finding["status_code"]
    return table


def table(found: dict[tuple[str, str], str], secrets: list[str]) -> str:
    """One line per check: its verdict on each secret."""
    checks = sorted({check for check, _ in found})
    width = max(len(c) for c in checks)
    lines = [f"{'check':<{width}}  " + "  ".join(secrets)]
    for check in checks:
        cells = [f"{found.get((check, s), '-'):<{len(s)}}" for s in secrets]
        lines.append(f"{check:<{width}}  " + "  ".join(cells))
    return "\n".join(lines)


@pytest.mark.slow
def test_prowler_passes_rekeys_policy_on_every_rekey_secret(
    org: Org, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # As the hub and the StackSet deploy it: Secrets Manager's rotation through the relay.
    monkeypatch.setenv("REKEY_ROTATION_RELAY", rotation.RELAY_NAME)
    rotation.deploy_relay(org.emulator, org.accounts["payments"], rotation_url=os.environ[em.ROTATION_URL])
    # A full cycle in payments: rotated at 91 days, the old key deactivated at 101, deleted at 111.
    for user, path in (("svc-billing", "/"), ("svc-ledger", "/apps/")):
        org.create_user("payments", user, TAG, Path=path)
    for days in (91, 10, 10):
        org.age(days, ("payments",))
        run_day(runtime_from_env())
    assert {len(org.keys("payments", u)) for u in ("svc-billing", "svc-ledger")} == {1}
    create_controls(org, "payments")

    findings, seconds = run_prowler(org, "payments", tmp_path)
    found = verdicts(findings)

    rekeys = ["rekey/svc-billing", "rekey/svc-ledger"]
    controls = sorted({secret for _, secret in CONTROLS})
    with capsys.disabled():
        version = findings[0]["metadata"]["product"]["version"]
        print(f"\nProwler {version}, {seconds:.0f} s, account payments after a rotation cycle:")
        print(table(found, rekeys + controls))
    assert {check for check, _ in found} == set(EXPECTED), "Prowler's Secrets Manager checks changed: judge the new"
    assert {(c, s): v for (c, s), v in found.items() if s in rekeys} == {
        (check, secret): verdict for check, verdict in EXPECTED.items() for secret in rekeys
    }
    judged_controls = {(c, s): v for (c, s), v in found.items() if s in controls}
    assert {k: v for k, v in judged_controls.items() if k in CONTROLS} == CONTROLS
