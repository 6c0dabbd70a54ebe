"""The guard judged by a maintained analyser nobody here wrote (issue 27): Salesforce's
cloudsplaining, pinned in its own venv (.tools/judges, `make judges`), run as a subprocess over
every AWS managed policy moto ships and over each of its own privilege-escalation methods. rekey
must refuse every policy the judge flags; where we disagree, DISAGREEMENTS says so and why.
(Not moto-backed: here because it needs a tool venv, as the SAM tests do.)"""

from __future__ import annotations

import functools
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from rekey.domain.privilege import PATHS, PRIVILEGED_AWS_MANAGED, escalation, powerful

ROOT = Path(__file__).resolve().parents[2]
JUDGES_VENV = ROOT / ".tools" / "judges"
CLOUDSPLAINING = ROOT / "tests" / "judges" / "cloudsplaining_judge.py"

# Policies the judge flags that rekey lets rotate, each with the reason. None today: every
# AWS managed policy cloudsplaining 0.9.1 flags for privilege escalation is refused.
DISAGREEMENTS: dict[str, str] = {}


def judge_python() -> Path:
    path = JUDGES_VENV / "bin" / "python"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run `make judges` (cloudsplaining in its own venv)")
    return path


@functools.cache
def moto_managed_policies() -> dict[str, Any]:
    """Every AWS managed policy's document, as moto ships them (~1,600)."""
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    return {name: data["Document"] for name, data in json.loads(aws_managed_policies_data).items()}


@functools.cache
def rekey_refuses() -> frozenset[str]:
    """The AWS managed policies rekey refuses (judged by name, or by their documents)."""
    return frozenset(
        name for name, document in moto_managed_policies().items()
        if name in PRIVILEGED_AWS_MANAGED or powerful(document) is not None
    )  # fmt: skip


def judged(tmp: Path, documents: dict[str, Any]) -> dict[str, Any]:
    source = tmp / "documents.json"
    source.write_text(json.dumps(documents))
    done = subprocess.run(
        [str(judge_python()), str(CLOUDSPLAINING), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return json.loads(done.stdout)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def verdicts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return judged(tmp_path_factory.mktemp("judges"), moto_managed_policies())


def refused(document: Any) -> bool:
    return powerful(document) is not None


def test_rekey_refuses_every_aws_managed_policy_the_judge_flags(verdicts: dict[str, Any]) -> None:
    flagged = verdicts["flagged"]
    assert len(flagged) >= 30, "the judge flagged fewer policies than it did when this test was written"
    missed = {name: flagged[name] for name in flagged if name not in rekey_refuses()}
    assert missed.keys() == DISAGREEMENTS.keys(), missed


def test_rekey_refuses_every_escalation_method_the_judge_knows(verdicts: dict[str, Any]) -> None:
    """Each method, as a policy allowing its actions on every resource."""
    methods = verdicts["methods"]
    assert len(methods) >= 55
    missed = [
        name
        for name, actions in methods.items()
        if not refused({"Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]})
    ]
    assert missed == []


def test_the_table_of_refusals_by_reason(verdicts: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    """docs/security.md's table: moto's AWS managed policies refused, by the first path found.
    `pytest tests/integration/test_privilege_judges.py -k table -s` prints it."""
    documents = moto_managed_policies()
    by_reason: dict[str, int] = {}
    for name in sorted(rekey_refuses()):
        if name in PRIVILEGED_AWS_MANAGED:
            reason = "an AWS managed policy known to administer IAM (judged by name)"
        else:
            path = escalation(documents[name])
            reason = path.what if path is not None else "unreadable, or a role in another account"
        by_reason[reason] = by_reason.get(reason, 0) + 1
    total = sum(by_reason.values())
    flagged = len(verdicts["flagged"])
    both = len(rekey_refuses() & verdicts["flagged"].keys())
    with capsys.disabled():
        print(f"\n\n{len(documents)} AWS managed policies (moto); refused by rekey: {total}; ")
        print(f"flagged by cloudsplaining: {flagged}, of which rekey refuses {both}\n")
        print("| reason (first path found) | policies |\n|---|---:|")
        for reason, count in sorted(by_reason.items(), key=lambda kv: (-kv[1], kv[0])):
            print(f"| {reason} | {count} |")
        print(f"| **refused** | **{total}** |")
    whats = {p.what for p in PATHS}
    assert set(by_reason) <= whats | {
        "an AWS managed policy known to administer IAM (judged by name)",
        "unreadable, or a role in another account",
    }
    assert both == flagged - len(DISAGREEMENTS)
