"""docs/design.md's safety invariants as checks on the emulator, shared by the worker and reliability tests.

`SafetyChecker` reads a user's keys and secret from the emulator's state (never through rekey)
and lists every violated invariant; `guard_calls` checks, at the
moment rekey sends them, that its key writes never delete an active key or the secret's current
key and never leave a user without an active key."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rekey.domain import naming
from rekey.domain.lifecycle import INTENT_SLACK, INTENT_WINDOW
from rekey.domain.secret_state import INTENT_AT_TAG, INTENT_KEYS_TAG, NO_KEYS

if TYPE_CHECKING:
    from tests.conftest import Org
    from tests.faults import Faults


def secret_versions(org: Org, account: str, name: str) -> dict[str, list[str]]:
    return org.client("secretsmanager", account).describe_secret(SecretId=name)["VersionIdsToStages"]


def current_secret(org: Org, account: str, name: str) -> dict[str, str]:
    sm = org.client("secretsmanager", account)
    return json.loads(sm.get_secret_value(SecretId=name, VersionStage="AWSCURRENT")["SecretString"])


def assert_secret_matches_an_active_key(org: Org, account: str, user: str) -> str:
    """The invariant 'no secret is lost': the secret's current key exists, is active, matches."""
    value = current_secret(org, account, f"rekey/{user}")
    assert org.keys(account, user).get(value["AccessKey"]) == "Active"
    sts = org.emulator.client("sts", aws_access_key_id=value["AccessKey"], aws_secret_access_key=value["SecretKey"])
    assert sts.get_caller_identity()["Arn"].endswith(f":user/{user}")
    return value["AccessKey"]


def key_secret(account_id: str, key_id: str) -> str | None:
    """The secret half IAM holds for `key_id` (moto's in-process backend), None if no such key.
    It is the only way to prove a stored secret matches: moto's STS does not check signatures."""
    from moto.iam.models import iam_backends

    key = iam_backends[account_id]["global"].access_keys.get(key_id)
    return key.secret_access_key if key is not None else None


@dataclass(frozen=True)
class KeyView:
    key_id: str
    status: str
    created: datetime
    used: bool


@dataclass
class SecretView:
    exists: bool = False
    stages: dict[str, list[str]] = field(default_factory=dict)  # version id -> stages
    values: dict[str, dict[str, str]] = field(default_factory=dict)  # version id -> {"AccessKey", "SecretKey"}
    intent_at: datetime | None = None
    intent_known: frozenset[str] = frozenset()

    def version_with(self, stage: str) -> str | None:
        return next((v for v, s in self.stages.items() if stage in s), None)

    def key_in(self, stage: str) -> str | None:
        version = self.version_with(stage)
        return self.values.get(version, {}).get("AccessKey") if version else None

    def stored(self) -> dict[str, str | None]:
        """Key id -> the secret half stored for it, in a version a reader can find by its label
        (AWSCURRENT, AWSPENDING, AWSPREVIOUS): a version without a label is as good as lost."""
        return {
            v["AccessKey"]: v.get("SecretKey")
            for version, v in self.values.items()
            if self.stages.get(version) and isinstance(v.get("AccessKey"), str)
        }


@dataclass(frozen=True)
class Snapshot:
    keys: dict[str, KeyView]
    secret: SecretView


class SafetyChecker:
    """Reads one user's keys and secret straight from the emulator's state (not through
    rekey, and without spending API calls: it runs after every step) and names every safety
    invariant that does not hold."""

    def __init__(self, org: Org, account_id: str, user: str, human_keys: set[str], secret_name: str | None = None):
        self.org = org
        self.account_id = account_id
        self.user = user
        self.human_keys = set(human_keys)  # keys whose secret a person holds: created outside rekey
        self.secret_name = secret_name or naming.secret_name("rekey/{user_name}", user, account_id)
        self.checks = 0
        self._signed: dict[tuple[str, str], str] = {}  # (key id, secret) -> the ARN it signs as

    # -- reading

    def snapshot(self) -> Snapshot:
        from moto.iam.models import iam_backends
        from moto.secretsmanager.models import secretsmanager_backends
        from rekey_dev.emulator import REGION

        iam = iam_backends[self.account_id]["global"]
        user = iam.users.get(self.user)
        keys = {}
        for key in list(user.access_keys) if user else []:
            created = key.create_date if key.create_date.tzinfo else key.create_date.replace(tzinfo=UTC)
            used = key.last_used is not None and getattr(key.last_used, "timestamp", None) is not None
            keys[key.access_key_id] = KeyView(key.access_key_id, key.status, created, used)
        secret = secretsmanager_backends[self.account_id][REGION].secrets.get(self.secret_name)
        if secret is None:
            return Snapshot(keys, SecretView())
        view = SecretView(exists=True)
        for version_id, version in list(secret.versions.items()):
            view.stages[version_id] = list(version.get("version_stages", []))
            view.values[version_id] = json.loads(version.get("secret_string") or "{}")
        tags = {t["Key"]: t["Value"] for t in list(secret.tags or [])}
        if INTENT_AT_TAG in tags:
            view.intent_at = datetime.fromisoformat(tags[INTENT_AT_TAG].replace("Z", "+00:00"))
            known = tags.get(INTENT_KEYS_TAG, NO_KEYS)
            view.intent_known = frozenset() if known == NO_KEYS else frozenset(known.split())
        return Snapshot(keys, view)

    def current_key(self) -> str | None:
        return self.snapshot().secret.key_in("AWSCURRENT")

    # -- the invariants

    def violations(self, snap: Snapshot | None = None) -> list[str]:
        """What must hold after every step, whatever failed or crashed before it."""
        self.checks += 1
        snap = snap or self.snapshot()
        keys, secret = snap.keys, snap.secret
        found: list[str] = []
        if len(keys) > 2:
            found.append(f"{len(keys)} keys (more than two)")
        if not any(k.status == "Active" for k in keys.values()):
            found.append("no active key left")
        current = secret.version_with("AWSCURRENT")
        if current is not None:
            value = secret.values.get(current, {})
            key_id = value.get("AccessKey", "?")
            if key_id not in keys:
                found.append(f"lost secret: AWSCURRENT holds {key_id}, which no longer exists")
            elif keys[key_id].status != "Active":
                found.append(f"lost secret: AWSCURRENT holds {key_id}, which is {keys[key_id].status}")
            elif value.get("SecretKey") != key_secret(self.account_id, key_id):
                found.append(f"lost secret: AWSCURRENT's secret does not match {key_id}")
            elif not self._signs_as_user(key_id, value.get("SecretKey", "")):
                found.append(f"lost secret: {key_id} from AWSCURRENT does not sign as {self.user}")
        stored = secret.stored()
        for key in keys.values():
            if key.key_id in self.human_keys:
                continue
            if key.key_id in stored:
                if stored[key.key_id] != key_secret(self.account_id, key.key_id):
                    found.append(f"{key.key_id}: the secret stored for it does not match")
            elif not self._awaits_reconciliation(key, secret):
                found.append(
                    f"orphan: {key.key_id} ({key.status}) was created by rekey, its secret is stored nowhere "
                    "and no recorded rotation intent lets the next run remove it"
                )
        return found

    def unsettled(self, snap: Snapshot | None = None) -> list[str]:
        """What must hold once a run converged: no intent, nothing staged, no orphan."""
        snap = snap or self.snapshot()
        found = []
        if snap.secret.intent_at is not None:
            found.append("a rotation intent is still recorded")
        pending = snap.secret.version_with("AWSPENDING")
        if pending is not None and pending != snap.secret.version_with("AWSCURRENT"):
            found.append("a version is still staged as AWSPENDING")
        stored = snap.secret.stored()
        orphans = sorted(k for k in snap.keys if k not in self.human_keys and k not in stored)
        if orphans:
            found.append(f"orphan key(s) {orphans}")
        return found

    def _signs_as_user(self, key_id: str, secret: str) -> bool:
        """Sign sts:GetCallerIdentity with the pair (once per pair: moto's answer for a pair can
        only change when the key is deleted, which the key listing shows)."""
        if (key_id, secret) not in self._signed:
            from moto.iam.models import iam_backends

            key = iam_backends[self.account_id]["global"].access_keys.get(key_id)
            before = getattr(key, "last_used", None)
            sts = self.org.emulator.client("sts", aws_access_key_id=key_id, aws_secret_access_key=secret)
            self._signed[(key_id, secret)] = sts.get_caller_identity()["Arn"]
            if key is not None:  # the check is no use of the key: rekey must not see it as a consumer's
                key.last_used = before
        return self._signed[(key_id, secret)] == self._user_arn()

    def _user_arn(self) -> str | None:
        from moto.iam.models import iam_backends

        user = iam_backends[self.account_id]["global"].users.get(self.user)
        return user.arn if user else None

    def _awaits_reconciliation(self, key: KeyView, secret: SecretView) -> bool:
        """A key an interrupted attempt created and nobody could have used: covered by the
        recorded intent, so the next run deletes it (docs/design.md: orphan reconciliation)."""
        at = secret.intent_at
        return (
            at is not None
            and key.key_id not in secret.intent_known
            and not key.used
            and at - INTENT_SLACK <= key.created <= at + INTENT_WINDOW
        )


@dataclass
class CallGuard:
    """Checks rekey's key writes at the moment they are sent."""

    checker: SafetyChecker
    violations: list[str] = field(default_factory=list)

    def before_delete(self, params: dict[str, Any]) -> None:
        if params.get("UserName") != self.checker.user:
            return
        key_id = params["AccessKeyId"]
        keys = self.checker.snapshot().keys
        if key_id in keys and keys[key_id].status == "Active":
            self.violations.append(f"DeleteAccessKey on {key_id} while it is active")
        if key_id == self.checker.current_key():
            self.violations.append(f"DeleteAccessKey on {key_id}, the secret's current key")

    def before_update(self, params: dict[str, Any]) -> None:
        if params.get("UserName") != self.checker.user or params.get("Status") != "Inactive":
            return
        key_id = params["AccessKeyId"]
        keys = self.checker.snapshot().keys
        if key_id == self.checker.current_key():
            self.violations.append(f"UpdateAccessKey Inactive on {key_id}, the secret's current key")
        if not any(k.key_id != key_id and k.status == "Active" for k in keys.values()):
            self.violations.append(f"UpdateAccessKey Inactive on {key_id} would leave no active key")


def guard_calls(faults: Faults, checker: SafetyChecker) -> CallGuard:
    guard = CallGuard(checker)
    faults.watch("iam", "DeleteAccessKey", guard.before_delete)
    faults.watch("iam", "UpdateAccessKey", guard.before_update)
    return guard
