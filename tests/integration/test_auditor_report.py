"""`rekey report` as an auditor reads it: what was not checked and why, each key's verdict under
each control, who ran the report and the policy in force."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from rekey_cli import compliance, plan
from rekey_cli.render_html import report_html
from rekey_cli.render_report import report_json, report_text
from rekey_dev.emulator import MANAGEMENT_ACCOUNT

from rekey.runtime import Runtime
from tests.conftest import Org
from tests.faults import Faults
from tests.operators import TAG, run_cli, run_json

EXCLUDED = "not checked: excluded by REKEY_EXCLUDED_ACCOUNTS"


def test_an_excluded_management_account_with_an_old_key_is_not_checked_never_compliant(
    org: Org, capsys: pytest.CaptureFixture, tmp_path: Path
) -> None:
    (old,) = org.create_user(MANAGEMENT_ACCOUNT, "root-automation", TAG)
    org.age(400, (MANAGEMENT_ACCOUNT,))
    org.create_user("payments", "svc", TAG)
    html, keys_csv = tmp_path / "r.html", tmp_path / "keys.csv"

    code, rep = run_json(capsys, "report", "--html", str(html), "--csv", str(keys_csv))
    assert code == 0
    assert rep["not_checked"] == [
        {
            "account_id": MANAGEMENT_ACCOUNT,
            "account_name": "master",  # the emulator's name for the management account
            "why": "excluded",
            "reason": "excluded by REKEY_EXCLUDED_ACCOUNTS",
        }
    ]
    totals = rep["totals"]
    assert (totals["accounts_checked"], totals["accounts_not_checked"], totals["accounts_excluded"]) == (3, 1, 1)
    # Its 400-day key is nowhere among the keys, and its account has no row of zeros.
    assert old not in {k["key_id"] for k in rep["keys"]}
    assert MANAGEMENT_ACCOUNT not in {a["account_id"] for a in rep["accounts"]}
    assert MANAGEMENT_ACCOUNT not in keys_csv.read_text()
    assert old not in keys_csv.read_text() and old not in html.read_text()

    code, out, _ = run_cli(capsys, "report")
    assert "3 account(s) checked, 1 not checked (excluded 1, unreachable 0)" in out
    (line,) = [line for line in out.splitlines() if line.strip().startswith(MANAGEMENT_ACCOUNT)]
    assert line.split() == ["123456789012", "master", *EXCLUDED.split()]
    page = html.read_text()
    assert f"<td>{MANAGEMENT_ACCOUNT}</td><td>master</td>" in page
    assert "<b>not checked</b>: excluded by REKEY_EXCLUDED_ACCOUNTS" in page
    assert "3 account(s) checked, 1 not checked (excluded 1, unreachable 0)" in page


def test_an_excluded_id_the_organization_does_not_list_is_shown_too(
    org: Org, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REKEY_EXCLUDED_ACCOUNTS", f"{MANAGEMENT_ACCOUNT},999999999999")
    _, rep = run_json(capsys, "report")
    gone = [n for n in rep["not_checked"] if n["account_id"] == "999999999999"]
    assert gone == [
        {
            "account_id": "999999999999",
            "account_name": "",
            "why": "excluded",
            "reason": "excluded by REKEY_EXCLUDED_ACCOUNTS (not an ACTIVE account of the organization)",
        }
    ]
    assert rep["totals"]["accounts_excluded"] == 2


def test_an_unreachable_account_is_not_checked_says_why_and_the_report_and_plan_go_on(
    org: Org, faulty_runtime: Runtime, faults: Faults
) -> None:
    org.create_user("payments", "svc", TAG)
    org.create_user("analytics", "etl", TAG)
    payments = org.accounts["payments"]
    faults.fail("sts", "AssumeRole", code="AccessDenied", status=403, times=0, match=lambda p: payments in p["RoleArn"])
    rep = compliance.report(faulty_runtime)

    (failed,) = rep.failed
    assert failed.account.account_id == payments and failed.reason.startswith("access-denied")
    assert [k.user_name for k in rep.keys] == ["etl"]
    forecast = plan.plan(faulty_runtime, 30)
    assert [v.account.account_id for v in forecast.failed] == [payments]
    assert forecast.keys_in_scope == 1
    # Not a row of zeros among the accounts checked: only among those not checked.
    assert payments not in [a.account.account_id for a in rep.accounts]
    data = report_json(rep)
    unreachable = [n for n in data["not_checked"] if n["why"] == "unreachable"]
    assert [(n["account_id"], n["account_name"]) for n in unreachable] == [(payments, "payments")]
    assert (data["totals"]["accounts_checked"], data["totals"]["accounts_unreachable"]) == (2, 1)
    text = report_text(rep)
    assert "2 account(s) checked, 2 not checked (excluded 1, unreachable 1)" in text
    (line,) = [line for line in text.splitlines() if line.strip().startswith(payments)]
    assert f"not checked: {failed.reason}" in line
    assert f"<b>not checked</b>: {failed.reason}" in report_html(rep)


def test_each_key_is_judged_by_each_control(org: Org, capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    (at_95,) = org.create_user("payments", "svc-95", TAG)
    org.create_user("payments", "human-95", {})  # not managed: the org policy does not apply
    org.age(95, ("payments",))
    (at_90,) = org.create_user("analytics", "svc-90", TAG)
    org.age(90, ("analytics",))
    (at_89,) = org.create_user("sandbox", "svc-89", TAG)
    short = {"rekey:rotate-after-days": "60", "rekey:deactivate-after-days": "70", "rekey:delete-after-days": "80"}
    (late,) = org.create_user("sandbox", "svc-short", {**TAG, **short})
    org.emulator.age_keys(org.accounts["sandbox"], 89)
    keys_csv = tmp_path / "keys.csv"

    _, rep = run_json(capsys, "report", "--csv", str(keys_csv))
    verdicts = {k["user_name"]: (k["cis_2_12"], k["securityhub_iam_3"], k["org_policy"]) for k in rep["keys"]}
    # The recipe's 90/100/110: a 95-day active key fails the 90-day controls, not the org's
    # policy (rotated already, still inside its 10 days of overlap).
    assert verdicts["svc-95"] == ("fail", "fail", "pass")
    assert verdicts["human-95"] == ("fail", "fail", "n/a")
    assert verdicts["svc-90"] == ("fail", "fail", "pass")  # from the 90th day, not after it
    assert verdicts["svc-89"] == ("pass", "pass", "pass")
    # Its own policy (60/70/80): active at 89 days, past its deactivation age.
    assert verdicts["svc-short"] == ("pass", "pass", "fail")
    assert {k["key_id"] for k in rep["keys"]} >= {at_95, at_90, at_89, late}

    accounts = {a["account_name"]: a["failing"] for a in rep["accounts"]}
    assert accounts["payments"] == {"cis_2_12": 2, "securityhub_iam_3": 2, "org_policy": 0}
    assert accounts["sandbox"] == {"cis_2_12": 0, "securityhub_iam_3": 0, "org_policy": 1}
    assert rep["totals"]["failing"] == {"cis_2_12": 3, "securityhub_iam_3": 3, "org_policy": 1}

    rows = {r["user_name"]: r for r in csv.DictReader(keys_csv.open())}
    assert (rows["svc-95"]["cis_2_12"], rows["svc-95"]["org_policy"]) == ("fail", "pass")
    assert "over_90_days" not in rows["svc-95"]

    _, out, _ = run_cli(capsys, "report")
    assert "5 key(s): 3 fail CIS AWS Foundations 2.12, 3 fail Security Hub IAM.3, 1 fail org policy" in out
    (line,) = [line for line in out.splitlines() if at_95 in line]
    assert line.startswith(" !") and " 95  FAIL  FAIL  pass " in line


def test_who_ran_it_and_the_policy_in_force(
    org: Org, capsys: pytest.CaptureFixture, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    caller = org.emulator.client("sts").get_caller_identity()["Arn"]
    html = tmp_path / "r.html"
    _, rep = run_json(capsys, "report")
    assert (rep["caller_arn"], rep["caller_error"]) == (caller, None)
    policy = rep["policy"]
    assert (policy["preset"], policy["rotate_after_days"], policy["deactivate_after_days"]) == ("recipe", 90, 100)
    assert (policy["delete_after_days"], policy["in_use_policy"]) == (110, "enforce")
    assert policy["bounds"]["max_active_days"] is None
    assert policy["bounds"]["min_rotate_after_days"] == 30 and policy["bounds"]["min_overlap_days"] == 7
    # Active from 90 days old to the sweep on its 100th: failing CIS 2.12 and IAM.3 those days.
    assert policy["days_failing_90_day_controls_per_cycle"] == 11

    monkeypatch.setenv("REKEY_POLICY_PRESET", "cis")
    _, out, _ = run_cli(capsys, "report", "--html", str(html))
    assert out.startswith("compliance report ")
    assert f"run by {caller}" in out.splitlines()[0]
    assert "policy in force (cis preset): rotate at 75, deactivate at 85, delete at 95 days" in out
    assert "a replaced key active at most 85 days (the preset's ceiling)" in out
    assert "rotate between 30 and 90 days, overlap at least 7, delete by 365" in out
    assert "no active key reaches 90 days when every sweep runs" in out
    page = html.read_text()
    assert f"<th>Run by</th><td>{caller}</td>" in page
    assert "<th>Policy in force (cis preset)</th><td>rotate at 75, deactivate at 85" in page


def test_a_caller_that_cannot_be_read_is_one_line_and_the_report_still_renders(
    org: Org, faulty_runtime: Runtime, faults: Faults
) -> None:
    org.create_user("payments", "svc", TAG)
    faults.fail("sts", "GetCallerIdentity", code="AccessDenied", status=403, times=0)
    rep = compliance.report(faulty_runtime)
    assert rep.caller_arn is None and rep.caller_error.startswith("access-denied: sts:GetCallerIdentity")
    text = report_text(rep)
    first = text.splitlines()[0]
    assert first.endswith(f"run by the caller could not be read ({rep.caller_error})")
    assert "Traceback" not in text and "\n" not in rep.caller_error
    assert report_json(rep)["caller_arn"] is None
    assert "the caller could not be read" in report_html(rep)
    assert [k.user_name for k in rep.keys] == ["svc"]
