"""`rekey credential-process` under the AWS CLI v1 (from the consumers' tool venv), on the emulator
with IAM enforced and deactivated keys refused: where its region comes from, what a failure
looks like to the CLI's user, and a key deactivated after a rotation this machine missed. The
whole lifecycle with every documented consumer (docs/consumers.md) is tests/e2e/test_consumers.py."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from rekey_dev.authz import enforced

from tests.conftest import Org
from tests.e2e.consumer_env import consumer_env, refusing_inactive_keys, tool

USER = "ci-runner"
CI_PROFILE = (
    "[profile ci]\n"
    f"credential_process = rekey credential-process --secret-id rekey/{USER} --bootstrap-profile ci-bootstrap\n"
)
READ_OWN_SECRET = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
            "Resource": "*",
        }
    ],
}


def user_with_secret(org: Org) -> tuple[str, dict[str, str]]:
    """USER in the payments account, allowed to read its secret, which holds its current key."""
    iam = org.client("iam", "payments")
    arn = iam.create_user(UserName=USER)["User"]["Arn"]
    iam.put_user_policy(UserName=USER, PolicyName="read", PolicyDocument=json.dumps(READ_OWN_SECRET))
    key = iam.create_access_key(UserName=USER)["AccessKey"]
    value = json.dumps({"AccessKey": key["AccessKeyId"], "SecretKey": key["SecretAccessKey"]})
    org.client("secretsmanager", "payments").create_secret(Name=f"rekey/{USER}", SecretString=value)
    return arn, key


def write_config(home: Path, text: str) -> None:
    (home / ".aws").mkdir(parents=True, exist_ok=True)
    (home / ".aws" / "config").write_text(text)


def bootstrap(key: dict[str, str], region: str | None = None) -> str:
    return (
        "[profile ci-bootstrap]\n"
        f"aws_access_key_id = {key['AccessKeyId']}\n"
        f"aws_secret_access_key = {key['SecretAccessKey']}\n" + (f"region = {region}\n" if region else "")
    )


def aws(home: Path, org: Org, *args: str) -> subprocess.CompletedProcess[str]:
    with enforced(org.emulator), refusing_inactive_keys():
        return subprocess.run(
            [str(tool("aws")), *args],
            env=consumer_env(home, org.emulator.url),
            capture_output=True,
            text=True,
            timeout=120,
        )


def make_stale(cache: Path) -> None:
    data = json.loads(cache.read_text())
    data["FetchedAt"] = "2000-01-01T00:00:00Z"
    cache.write_text(json.dumps(data))


def test_the_region_of_the_profile_the_cli_runs_it_for(org: Org, tmp_path: Path) -> None:
    """`aws --profile ci` tells the process neither the profile nor a region: it finds the
    profile by its credential_process line. First run, cache hit, and a re-read with the cached
    key all work (issue 14: every call after the first failed with NoRegionError)."""
    arn, key = user_with_secret(org)
    write_config(tmp_path, CI_PROFILE + "region = us-east-1\n" + bootstrap(key))
    cache = tmp_path / ".aws" / "rekey" / f"rekey_{USER}.json"
    for step in ("bootstrap", "cache hit", "re-read with the cached key"):
        if step.startswith("re-read"):
            make_stale(cache)
        out = aws(tmp_path, org, "--profile", "ci", "sts", "get-caller-identity")
        assert out.returncode == 0, f"{step}: {out.stderr}"
        assert json.loads(out.stdout)["Arn"] == arn
        assert json.loads(cache.read_text())["Region"] == "us-east-1"


def test_a_region_only_on_the_bootstrap_profile_serves_every_call(org: Org, tmp_path: Path) -> None:
    arn, key = user_with_secret(org)
    write_config(tmp_path, CI_PROFILE + bootstrap(key, "us-east-1"))
    cache = tmp_path / ".aws" / "rekey" / f"rekey_{USER}.json"
    for step in ("bootstrap", "cache hit", "re-read"):
        if step == "re-read":
            make_stale(cache)
        out = aws(tmp_path, org, "--profile", "ci", "--region", "us-east-1", "sts", "get-caller-identity")
        assert out.returncode == 0, f"{step}: {out.stderr}"
        assert json.loads(out.stdout)["Arn"] == arn


def test_the_cli_shows_a_failure_as_one_line_without_a_traceback(org: Org, tmp_path: Path) -> None:
    _, key = user_with_secret(org)
    write_config(tmp_path, CI_PROFILE + bootstrap(key))
    out = aws(tmp_path, org, "--profile", "ci", "--region", "us-east-1", "sts", "get-caller-identity")
    assert out.returncode != 0 and out.stdout == ""
    assert "rekey credential-process: no region for rekey/ci-runner" in out.stderr
    assert "Traceback" not in out.stderr and key["SecretAccessKey"] not in out.stderr


def run_process(org: Org, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "rekey_cli", "credential-process", "--secret-id", f"rekey/{USER}", *args]
    with enforced(org.emulator), refusing_inactive_keys():
        return subprocess.run(command, env=consumer_env(home, org.emulator.url), capture_output=True, text=True)


def test_a_cached_key_deactivated_after_a_missed_rotation(org: Org, tmp_path: Path) -> None:
    """The machine was off from before day 90 to after day 100: its cached key is refused. Without
    a bootstrap profile: one line and exit 1; with one holding the new key, it recovers."""
    _, old = user_with_secret(org)
    iam = org.client("iam", "payments")
    cache = tmp_path / "c.json"
    write_config(tmp_path, bootstrap(old).replace("ci-bootstrap", "b"))
    first = run_process(org, tmp_path, "--region", "us-east-1", "--cache", str(cache), "--bootstrap-profile", "b")
    assert first.returncode == 0, first.stderr
    # rekey rotated and deactivated while the machine was away
    new = iam.create_access_key(UserName=USER)["AccessKey"]
    value = json.dumps({"AccessKey": new["AccessKeyId"], "SecretKey": new["SecretAccessKey"]})
    org.client("secretsmanager", "payments").put_secret_value(SecretId=f"rekey/{USER}", SecretString=value)
    iam.update_access_key(UserName=USER, AccessKeyId=old["AccessKeyId"], Status="Inactive")
    make_stale(cache)

    out = run_process(org, tmp_path, "--region", "us-east-1", "--cache", str(cache))
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr.count("\n") == 1 and out.stderr.startswith("rekey credential-process: ")
    # AWS answers UnrecognizedClientException; moto a 403 whose code botocore's JSON parser drops.
    refused = r"\((UnrecognizedClientException|InvalidClientTokenId|403)\)"
    assert re.search(f"the cached key {old['AccessKeyId']} was rejected by AWS {refused}", out.stderr)
    assert "--bootstrap-profile" in out.stderr

    write_config(tmp_path, bootstrap(new).replace("ci-bootstrap", "b"))
    out = run_process(org, tmp_path, "--region", "us-east-1", "--cache", str(cache), "--bootstrap-profile", "b")
    assert out.returncode == 0, out.stderr
    document: dict[str, Any] = json.loads(out.stdout)
    assert set(document) == {"Version", "AccessKeyId", "SecretAccessKey", "Expiration"}
    assert document["AccessKeyId"] == new["AccessKeyId"] and out.stdout.count("\n") == 1
    assert "rejected" in out.stderr and out.stderr.count("\n") == 1
    for secret in (old["SecretAccessKey"], new["SecretAccessKey"]):
        assert secret not in out.stderr
