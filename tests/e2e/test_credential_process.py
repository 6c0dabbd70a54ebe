"""A consumer configured once with `credential_process` keeps working through every rotation."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from moto.iam.models import iam_backends

from rekey.cli import main
from rekey.local.authz import set_authorization
from tests.conftest import Org

USER = "ci-runner"


def rekey_run(org: Org, days: int) -> None:
    org.age(days)
    assert main(["run"]) == 0


def consumer_call(config: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh consumer process-alike: a new session on the profile, one signed request.
    Returns the access key it signed with."""
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    session = boto3.Session(profile_name="consumer")
    session.client("sqs").list_queues()  # any signed request; its key's last use is recorded
    return session.get_credentials().get_frozen_credentials().access_key


def last_used(account: str, key_id: str) -> object:
    used = iam_backends[account]["global"].access_keys[key_id].last_used
    return used.timestamp if used else None


def test_consumer_moves_to_the_new_key_before_the_old_one_is_deactivated(
    org: Org, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    account = org.accounts["payments"]
    iam = org.client("iam", "payments")
    iam.create_user(UserName=USER, Tags=[{"Key": "rekey:rotate", "Value": "true"}])
    first = iam.create_access_key(UserName=USER)["AccessKey"]
    cache = tmp_path / "cache" / "ci-runner.json"
    config = tmp_path / "config"
    command = (
        f"{sys.executable} -m rekey credential-process --secret-id rekey/{USER} --region us-east-1 "
        f"--cache {cache} --bootstrap-profile bootstrap"
    )
    config.write_text(
        "[profile bootstrap]\n"
        f"aws_access_key_id = {first['AccessKeyId']}\n"
        f"aws_secret_access_key = {first['SecretAccessKey']}\n"
        "[profile consumer]\n"
        f"credential_process = {command}\n"
        "region = us-east-1\n"
    )

    # day 0: never rotated, no secret yet: the consumer runs on its bootstrap key
    assert consumer_call(config, monkeypatch) == first["AccessKeyId"]
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600

    # day 91: rekey rotates; the consumer's next run picks up the new key by itself
    rekey_run(org, 91)
    (new,) = set(org.keys("payments", USER)) - {first["AccessKeyId"]}
    assert consumer_call(config, monkeypatch) == new
    # The old key signed one last request (reading the secret that names its successor);
    # every request since is signed with the new key.
    assert last_used(account, new) > last_used(account, first["AccessKeyId"])
    assert consumer_call(config, monkeypatch) == new
    assert last_used(account, new) > last_used(account, first["AccessKeyId"])
    assert json.loads(cache.read_text())["AccessKeyId"] == new

    # day 102: the old key is deactivated, with no in-use warning: the consumer moved
    rekey_run(org, 11)
    assert org.keys("payments", USER)[first["AccessKeyId"]] == "Inactive"
    assert not org.events("in-use", USER)
    assert consumer_call(config, monkeypatch) == new

    # day 113: the old key is deleted; the consumer still works
    rekey_run(org, 11)
    assert org.keys("payments", USER) == {new: "Active"}
    assert consumer_call(config, monkeypatch) == new

    # stdout carries only the credential document; nothing else is printed there
    out = subprocess.run(command.split(), capture_output=True, text=True, check=True)
    document = json.loads(out.stdout)
    assert set(document) == {"Version", "AccessKeyId", "SecretAccessKey", "Expiration"}
    assert document["Version"] == 1 and document["AccessKeyId"] == new
    assert out.stdout.strip().count("\n") == 0
    assert document["SecretAccessKey"] not in out.stderr
    # nothing rekey itself printed contains the consumer's secrets
    captured = capfd.readouterr()
    for secret in (first["SecretAccessKey"], document["SecretAccessKey"]):
        assert secret not in captured.out and secret not in captured.err


def test_a_rejected_cached_key_exits_non_zero_with_one_line(org: Org, tmp_path: Path) -> None:
    iam = org.client("iam", "payments")
    iam.create_user(UserName=USER)
    gone = iam.create_access_key(UserName=USER)["AccessKey"]
    iam.delete_access_key(UserName=USER, AccessKeyId=gone["AccessKeyId"])  # deleted after a missed rotation
    cache = tmp_path / "c.json"
    cache.write_text(json.dumps({"AccessKeyId": gone["AccessKeyId"], "SecretAccessKey": gone["SecretAccessKey"]}))
    cache.chmod(0o600)
    command = [sys.executable, "-m", "rekey", "credential-process", "--secret-id", f"rekey/{USER}"]
    set_authorization(org.emulator, on=True)  # moto checks signatures only with authorization on
    try:
        out = subprocess.run([*command, "--cache", str(cache), "--region", "us-east-1"], capture_output=True, text=True)
    finally:
        set_authorization(org.emulator, on=False)
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr.count("\n") == 1 and out.stderr.startswith("rekey credential-process: ")
    assert gone["AccessKeyId"] in out.stderr and "--bootstrap-profile" in out.stderr
    assert gone["SecretAccessKey"] not in out.stderr
