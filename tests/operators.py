"""Helpers for the operators' tests: run the CLI, move the clock, run a day of production."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from rekey_cli import cli
from rekey_dev import emulator as em

from rekey.runtime import Runtime
from rekey.settings import Settings
from rekey.use_cases.sweep import new_sweep_id, sweep
from tests.conftest import Org, drain_work

TAG = {"rekey:rotate": "true"}
# The operator function's role as the emulator runs it, as Lambda would: the hub's worker role.
HUB_WORKER = f"arn:aws:sts::{em.MANAGEMENT_ACCOUNT}:assumed-role/rekey-hub-worker/rekey-hub-OperatorFunction"


OUT_OF_SCOPE = ["excluded", "outside the organization"]


def put_out_of_scope(org: Org, monkeypatch: pytest.MonkeyPatch, where: str) -> str:
    """Take `payments` out of rekey's scope (REKEY_EXCLUDED_ACCOUNTS, or out of the organization,
    its member roles still trusting the hub). Returns its account id."""
    from rekey_dev import emulator as em

    account = org.accounts["payments"]
    if where == "excluded":
        monkeypatch.setenv("REKEY_EXCLUDED_ACCOUNTS", f"{em.MANAGEMENT_ACCOUNT},{account}")
    else:
        org.emulator.client("organizations").remove_account_from_organization(AccountId=account)
    return account


def today() -> date:
    return datetime.now(UTC).date()


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """`rekey ARGV` in-process: exit code, stdout, stderr."""
    capsys.readouterr()
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any]:
    code, out, err = run_cli(capsys, *argv, "--json")
    assert out, err
    return code, json.loads(out)


def runtime_from_env(days_later: float = 0) -> Runtime:
    """The production runtime from the environment; its clock `days_later` days ahead (for
    dates written in tags: pauses, exemptions, the last in-use warning)."""
    rt = Runtime.build(Settings.from_env())
    rt.sleep = lambda _seconds: None
    if days_later:
        rt.now = lambda: datetime.now(UTC) + timedelta(days=days_later)
    return rt


def later(rt: Runtime, days: float) -> Runtime:
    """The same runtime (same clients), `days` days later."""
    shifted = Runtime(rt.settings, rt.clients, sleep=rt.sleep)
    shifted.now = lambda: datetime.now(UTC) + timedelta(days=days)
    return shifted


def run_day(rt: Runtime) -> list[Any]:
    """One day of production: the sweep queues, the worker drains. Returns the outcomes."""
    result = sweep(rt, new_sweep_id(rt.now()))
    assert not result.failed, [a.error for a in result.failed]
    _, outcomes = drain_work(rt)
    return outcomes


def items_for(rt: Runtime, user: str) -> list[tuple[str, str | None]]:
    """What a dry-run sweep would queue for `user` today."""
    result = sweep(rt, new_sweep_id(rt.now()), dry_run=True)
    return [(i.action.value, i.key_id) for i in result.items if i.user_name == user]


def secret_tags(org: Org, account: str, name: str) -> dict[str, str]:
    meta = org.client("secretsmanager", account).describe_secret(SecretId=name)
    return {t["Key"]: t["Value"] for t in meta.get("Tags", [])}


def current_key(org: Org, account: str, user: str) -> str:
    sm = org.client("secretsmanager", account)
    return json.loads(sm.get_secret_value(SecretId=f"rekey/{user}", VersionStage="AWSCURRENT")["SecretString"])[
        "AccessKey"
    ]


def signed_post(
    url: str,
    body: str,
    credentials: dict[str, str],
    *,
    service: str = "lambda",
    tamper: str | None = None,
    signed_at: datetime | None = None,
) -> tuple[int, dict[str, Any]]:
    """POST `body` to `url` signed with SigV4 as `credentials` (AccessKeyId, SecretAccessKey,
    SessionToken), as the CLI does; `tamper` replaces the body after signing; `signed_at`
    signs at another time. The status and the JSON answer."""
    from unittest import mock

    import botocore.auth
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    from botocore.httpsession import URLLib3Session

    request = AWSRequest(method="POST", url=url, data=body.encode(), headers={"Content-Type": "application/json"})
    keys = Credentials(credentials["AccessKeyId"], credentials["SecretAccessKey"], credentials.get("SessionToken"))
    when = (signed_at or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
    with mock.patch.object(botocore.auth, "get_current_datetime", return_value=when):
        SigV4Auth(keys, service, em.REGION).add_auth(request)
    if tamper is not None:
        request.data = tamper.encode()
    response = URLLib3Session(timeout=60).send(request.prepare())
    return response.status_code, json.loads(response.content or b"{}")
