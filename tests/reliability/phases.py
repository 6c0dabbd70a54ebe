"""The phases of a key's life a reliability case starts from: each sets a lab's user up in the
state just before rekey acts, and names the keys and statuses it must end with."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tests.reliability.lab import Lab


@dataclass(frozen=True)
class Phase:
    name: str
    setup: Callable[[Lab], dict[str, str]]  # -> named keys
    expect: Callable[[Lab, dict[str, str]], dict[str, str]]  # -> the keys and statuses to end with
    scan_points: bool = False  # the scan path is the same in every phase: covered once
    # Secrets Manager's rotation on (Lab(native=True)); the (step, operation) calls the hub's
    # step handling must make on a fault-free day, so that they are among the matrix's points.
    native: bool = False
    step_points: frozenset[tuple[str, str]] = frozenset()
    # The user selects a delivery destination (Lab(deliver=...)): "ssm", a parameter of its account,
    # or "github", a repository's Actions secrets; converged means it holds the current key too.
    deliver: str = ""
    # Operations the fault-free day must make, so that they are among the matrix's points.
    operations: frozenset[str] = frozenset()
    # Issue 31's controls on (Lab(rollout=True)): two waves, a rotation window, the breaker.
    rollout: bool = False


def _first_rotation(lab: Lab) -> dict[str, str]:
    (human,) = lab.create_user()
    lab.age(91)
    return {"human": human}


def _rotated(lab: Lab) -> dict[str, str]:
    named = _first_rotation(lab)
    assert lab.work("rotate", named["human"]).status == "done"
    (named["new"],) = set(lab.keys()) - {named["human"]}
    return named


def _deactivation(lab: Lab) -> dict[str, str]:
    named = _rotated(lab)
    lab.age(10)
    return named


def _deletion(lab: Lab) -> dict[str, str]:
    named = _deactivation(lab)
    # What rekey's deactivation does (the deactivation phase covers rekey doing it).
    lab.iam.update_access_key(UserName=lab.user, AccessKeyId=named["human"], Status="Inactive")
    lab.age(10)
    return named


def _second_rotation(lab: Lab) -> dict[str, str]:
    named = _deletion(lab)
    lab.iam.delete_access_key(UserName=lab.user, AccessKeyId=named["human"])
    lab.age(70)
    return named


def _making_room(lab: Lab) -> dict[str, str]:
    """A person deactivated one of two keys; the other is due: delete the inactive one, rotate."""
    retired, human = lab.create_user(keys=2)
    lab.iam.update_access_key(UserName=lab.user, AccessKeyId=retired, Status="Inactive")
    lab.age(91)
    return {"retired": retired, "human": human}


def _picked_up(lab: Lab) -> dict[str, str]:
    """Due for deactivation, its replacement delivered and used by a consumer that reads it there."""
    named = _deactivation(lab)
    delivered = lab.delivered_key()
    assert delivered == named["new"], f"the destination holds {delivered}, not {named['new']}"
    lab.org.emulator.use_key(lab.account_id, delivered)
    return named


def _new_current(lab: Lab, named: dict[str, str]) -> str:
    current = lab.snap.secret.key_in("AWSCURRENT") if lab.snap else None
    assert current is not None and current not in named.values(), "no new key is current"
    return current


PHASES = [
    Phase(
        "first-rotation",
        _first_rotation,
        lambda lab, k: {k["human"]: "Active", _new_current(lab, k): "Active"},
        scan_points=True,
    ),
    # The sweep releases the configuration to the lab's wave (PutItem) and reads the breaker and
    # the waves; the worker reads them and counts its run: each a point, failed and crashed.
    Phase(
        "first-rotation-rollout",
        _first_rotation,
        lambda lab, k: {k["human"]: "Active", _new_current(lab, k): "Active"},
        scan_points=True,
        rollout=True,
        operations=frozenset({"BatchGetItem", "PutItem", "UpdateItem"}),
    ),
    Phase("deactivation", _deactivation, lambda lab, k: {k["human"]: "Inactive", k["new"]: "Active"}),
    Phase("deletion", _deletion, lambda lab, k: {k["new"]: "Active"}),
    Phase("second-rotation", _second_rotation, lambda lab, k: {k["new"]: "Active", _new_current(lab, k): "Active"}),
    Phase("making-room", _making_room, lambda lab, k: {k["human"]: "Active", _new_current(lab, k): "Active"}),
    # Secrets Manager's rotation on: a first key is stored by rekey, then rotation is enabled
    # (RotateSecret without rotating: Secrets Manager runs the testSecret step, the hub's).
    Phase(
        "first-rotation-native",
        _first_rotation,
        lambda lab, k: {k["human"]: "Active", _new_current(lab, k): "Active"},
        native=True,
        step_points=frozenset({("testSecret", "GetUser"), ("testSecret", "ListAccessKeys")}),
    ),
    # A secret with a current version: the rotation is handed to Secrets Manager, whose four
    # steps the hub carries out (createSecret creates and stages, finishSecret makes current).
    Phase(
        "second-rotation-native",
        _second_rotation,
        lambda lab, k: {k["new"]: "Active", _new_current(lab, k): "Active"},
        native=True,
        step_points=frozenset(
            {
                ("createSecret", "TagResource"),
                ("createSecret", "CreateAccessKey"),
                ("createSecret", "PutSecretValue"),
                ("testSecret", "GetCallerIdentity"),
                ("finishSecret", "UpdateSecretVersionStage"),
                ("finishSecret", "Publish"),
                ("finishSecret", "UntagResource"),
            }
        ),
    ),
    # Delivery on: the new key pushed to the user's parameter, then its status recorded on the
    # secret; the old key retired at its deadline (no consumer used the new key: announced).
    Phase(
        "first-rotation-delivered",
        _first_rotation,
        lambda lab, k: {k["human"]: "Active", _new_current(lab, k): "Active"},
        deliver="ssm",
        operations=frozenset({"ListTagsForResource", "PutParameter"}),
    ),
    Phase(
        "deactivation-delivered",
        _deactivation,
        lambda lab, k: {k["human"]: "Inactive", k["new"]: "Active"},
        deliver="ssm",
    ),
    # The user selects a GitHub repository (the organization's fake GitHub): GitHub's calls are
    # points too, also denied (403), refused (401), rate-limited; the push's intent and record on
    # the secret. A first push creates the two secrets; a second overwrites rekey's own.
    Phase(
        "first-rotation-github",
        _first_rotation,
        lambda lab, k: {k["human"]: "Active", _new_current(lab, k): "Active"},
        deliver="github",
        operations=frozenset({"CreateInstallationToken", "GetPublicKey", "GetSecret", "PutSecret", "TagResource"}),
    ),
    Phase(
        "second-rotation-github",
        _second_rotation,
        lambda lab, k: {k["new"]: "Active", _new_current(lab, k): "Active"},
        deliver="github",
        operations=frozenset({"GetPublicKey", "GetSecret", "PutSecret"}),
    ),
    # Retired on proof: the new key is in the repository and a consumer there used it.
    Phase(
        "deactivation-github",
        _picked_up,
        lambda lab, k: {k["human"]: "Inactive", k["new"]: "Active"},
        deliver="github",
    ),
]
