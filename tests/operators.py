"""Helpers for the operators' tests: run the CLI, move the clock, run a day of production."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from rekey_cli import cli

from rekey.runtime import Runtime
from rekey.settings import Settings
from rekey.use_cases.sweep import new_sweep_id, sweep
from tests.conftest import Org, drain_work

TAG = {"rekey:rotate": "true"}


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
