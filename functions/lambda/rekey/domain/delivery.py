"""Delivery: the new key pushed to where its consumers read it (a CI system's secrets, a
parameter), at destinations the hub's configuration declares and approves — never a user tag.
A user's tag `rekey:deliver-to` only selects, by name, destinations approved for its account and
its name; naming any other makes the user misconfigured (announced, nothing sent: a principal
that can tag users must not be able to send keys to a place of its own).

What each destination was last sent is kept on the user's secret (one tag per destination,
rekey.domain.secret_state's way): the key, synced or failed, when, and the destination's own
record of what it wrote — so rekey overwrites only what it wrote, and retries what failed."""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlsplit

# The user tag: comma-separated names of destinations the hub approved for the user.
DELIVER_TAG = "rekey:deliver-to"
NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")
# What each kind of destination needs of the hub's configuration (besides `kind` and `allow`).
KINDS: dict[str, frozenset[str]] = {
    "ssm-parameter": frozenset({"name"}),
    "github-actions": frozenset({"app_id", "installation_id", "private_key_secret"}),
}
OPTIONAL: dict[str, frozenset[str]] = {
    "ssm-parameter": frozenset({"kms_key_id", "description"}),
    "github-actions": frozenset(
        {
            "repository",
            "environment",
            "organization",
            "visibility",
            "api_url",
            "access_key_name",
            "secret_key_name",
            "secrets",
        }
    ),
}
# A destination's status on the user's secret: `rekey:delivery:<name>` = `<key id> synced|failed
# <ISO time> <record or error code>` (Secrets Manager's tag values: 256 characters).
STATUS_TAG_PREFIX = "rekey:delivery:"
RECORD = re.compile(r"[A-Za-z0-9 _.:/=+@-]{0,160}")


# The hub's secrets holding a GitHub App's private key: the worker's role may read only these.
APP_KEY_PREFIX = "rekey-delivery/"


# A GitHub destination's options (rekey.adapters.delivery_github writes them): which of a scope's
# secrets (Actions', or Dependabot's), an organization secret's visibility, names GitHub takes.
GITHUB_SECRETS = ("actions", "dependabot")
GITHUB_VISIBILITIES = ("all", "private", "selected")
GITHUB_ACCESS_KEY_NAME = "AWS_ACCESS_KEY_ID"
GITHUB_SECRET_KEY_NAME = "AWS_SECRET_ACCESS_KEY"
_GITHUB_REPOSITORY = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
_GITHUB_OWNER = re.compile(r"[A-Za-z0-9_.-]+")
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _app_key_name(secret: str) -> str:
    """A secret's name, from its name or its ARN."""
    return secret.split(":", 6)[6] if secret.startswith("arn:") and secret.count(":") >= 6 else secret


class DestinationsError(ValueError):
    """The hub's REKEY_DESTINATIONS cannot be used (one line)."""


@dataclass(frozen=True)
class Approval:
    """Who may select a destination: accounts by id, accounts under OUs, user names by pattern
    (fnmatch: `svc-*`). An account must be named or under a named OU, and the user's name match."""

    accounts: frozenset[str] = frozenset()
    ous: frozenset[str] = frozenset()
    users: tuple[str, ...] = ("*",)


@dataclass(frozen=True)
class Destination:
    name: str
    kind: str
    options: tuple[tuple[str, str], ...]
    approval: Approval = field(default_factory=Approval)

    def option(self, key: str, default: str | None = None) -> str | None:
        return dict(self.options).get(key, default)

    def describe(self) -> str:
        return f"{self.name} ({self.kind})"


def parse_destinations(text: str) -> tuple[Destination, ...]:
    """REKEY_DESTINATIONS: a JSON object, destination name -> {"kind": ..., the kind's options,
    "allow": {"accounts": [...], "ous": [...], "users": [...]}}. DestinationsError in one line."""
    try:
        raw = json.loads(text) if text.strip() else {}
    except ValueError as exc:
        raise DestinationsError(f"not JSON ({exc.msg} at {exc.pos})") from None
    if not isinstance(raw, dict):
        raise DestinationsError("not a JSON object of destination name -> destination")
    return tuple(_destination(name, spec) for name, spec in sorted(raw.items()))


def _destination(name: str, spec: object) -> Destination:
    if not NAME.fullmatch(name):
        raise DestinationsError(f"{name!r}: a destination's name is 1-32 of a-z, 0-9 and -")
    if not isinstance(spec, dict) or spec.get("kind") not in KINDS:
        raise DestinationsError(f"{name}: kind must be one of {', '.join(sorted(KINDS))}")
    kind = spec["kind"]
    options = {k: v for k, v in spec.items() if k not in ("kind", "allow")}
    missing = sorted(KINDS[kind] - set(options))
    unknown = sorted(set(options) - KINDS[kind] - OPTIONAL[kind])
    if missing or unknown:
        raise DestinationsError(
            f"{name}: "
            + "; ".join(
                [
                    *(["missing " + ", ".join(missing)] if missing else []),
                    *(["unknown " + ", ".join(unknown)] if unknown else []),
                ]
            )
        )
    if not all(isinstance(v, str | int) for v in options.values()):
        raise DestinationsError(f"{name}: options are strings")
    if kind == "ssm-parameter" and not str(options["name"]).startswith("/rekey/"):
        raise DestinationsError(f"{name}: an SSM parameter's name starts with /rekey/ (the spoke role writes no other)")
    if kind == "github-actions" and not _app_key_name(str(options["private_key_secret"])).startswith(APP_KEY_PREFIX):
        raise DestinationsError(
            f"{name}: private_key_secret is a secret of the hub named {APP_KEY_PREFIX}... (the worker reads no other)"
        )
    problem = github_problem({k: str(v) for k, v in options.items()}) if kind == "github-actions" else None
    if problem:
        raise DestinationsError(f"{name}: {problem}")
    allow = spec.get("allow")
    if not isinstance(allow, dict) or not (allow.get("accounts") or allow.get("ous")):
        raise DestinationsError(f"{name}: allow must name the accounts and/or OUs that may use it")
    approval = Approval(
        frozenset(map(str, allow.get("accounts") or [])),
        frozenset(map(str, allow.get("ous") or [])),
        tuple(map(str, allow.get("users") or ["*"])),
    )
    return Destination(name, kind, tuple(sorted((k, str(v)) for k, v in options.items())), approval)


def github_problem(options: Mapping[str, str]) -> str | None:
    """Why a github-actions destination's options cannot be used (one line), or None. The secrets'
    names may hold the user's name: what a user's name makes of them is checked again per user
    (github_names_problem)."""
    option = options.get
    repository, environment, organization = option("repository"), option("environment"), option("organization")
    if (repository is None) == (organization is None):
        return "a GitHub destination names a repository or an organization"
    if organization is not None and environment is not None:
        return "environment is for a repository's secrets, not an organization's"
    if organization is not None and not _GITHUB_OWNER.fullmatch(organization):
        return f"organization {organization!r} is not an organization's name"
    if repository is not None and not _GITHUB_REPOSITORY.fullmatch(repository):
        return f"repository {repository!r} is not owner/name"
    url = urlsplit(option("api_url") or "https://api.github.com")
    if not (url.scheme == "https" or (url.scheme == "http" and url.hostname in _LOOPBACK)) or not url.hostname:
        return f"api_url {option('api_url')!r} is not an https:// URL"  # the token never travels in clear
    if not str(option("app_id")).isdigit() or not str(option("installation_id")).isdigit():
        return "app_id and installation_id are GitHub's numeric ids"
    visibility = option("visibility") or "private"
    if visibility not in GITHUB_VISIBILITIES:
        return f"visibility must be one of {', '.join(GITHUB_VISIBILITIES)}"
    if visibility != "private" and organization is None:
        return "visibility is for an organization's secrets"
    if (option("secrets") or "actions") not in GITHUB_SECRETS:
        return f"secrets must be one of {', '.join(GITHUB_SECRETS)}"
    if option("secrets") == "dependabot" and environment is not None:
        return "Dependabot secrets are a repository's or an organization's, not an environment's"
    return github_names_problem(github_secret_names(options, "U"))


def github_secret_names(options: Mapping[str, str], user_name: str) -> tuple[str, str]:
    """The two secrets' names for `user_name` (the access key id's, the secret key's)."""
    return (
        github_secret_name(options.get("access_key_name") or GITHUB_ACCESS_KEY_NAME, user_name),
        github_secret_name(options.get("secret_key_name") or GITHUB_SECRET_KEY_NAME, user_name),
    )


def github_secret_name(template: str, user_name: str) -> str:
    """A secret's name: `{user_name}` replaced, upper case, anything but A-Z 0-9 _ made `_` (GitHub's
    names are case-insensitive, of letters, digits and underscores)."""
    return re.sub(r"[^A-Z0-9_]", "_", template.replace("{user_name}", user_name).upper())


def github_names_problem(names: tuple[str, str]) -> str | None:
    """Why GitHub would refuse these secrets' names, or None."""
    for name in names:
        if not name or name[0].isdigit() or name.startswith("GITHUB_"):
            return f"secret name {name!r}: GitHub's cannot be empty, start with a digit or with GITHUB_"
    if names[0] == names[1]:
        return f"access_key_name and secret_key_name are both {names[0]}"
    return None


def selected(tags: Mapping[str, str], destinations: Iterable[Destination]) -> tuple[list[Destination], str | None]:
    """The destinations the user's tag selects, or why the tag cannot be used (an unknown name)."""
    value = tags.get(DELIVER_TAG)
    if value is None:
        return [], None
    names = [n.strip() for n in value.split(",") if n.strip()]
    by_name = {d.name: d for d in destinations}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        return [], f"{DELIVER_TAG} names {', '.join(unknown)}, which the hub does not declare (REKEY_DESTINATIONS)"
    return [by_name[n] for n in dict.fromkeys(names)], None


def refusal(
    destination: Destination, account_id: str, user_name: str, accounts_under: Callable[[frozenset[str]], set[str]]
) -> str | None:
    """Why `destination` is not approved for this user, or None."""
    approval = destination.approval
    in_account = account_id in approval.accounts or (bool(approval.ous) and account_id in accounts_under(approval.ous))
    if not in_account:
        return f"{destination.name} is not approved for account {account_id} (REKEY_DESTINATIONS allow)"
    if not any(fnmatch.fnmatchcase(user_name, pattern) for pattern in approval.users):
        return f"{destination.name} is not approved for user {user_name} (REKEY_DESTINATIONS allow.users)"
    return None


@dataclass(frozen=True)
class DeliveryStatus:
    """What a destination was last sent: `key_id`, when, and `error` (an error's code) if that
    push failed. `record` is the destination's record of what rekey last wrote there (kept
    across failures: it is what lets rekey overwrite its own value and nobody else's)."""

    key_id: str
    at: datetime
    record: str = ""
    error: str | None = None

    @property
    def synced(self) -> bool:
        return self.error is None

    def encode(self) -> str:
        record = self.record if RECORD.fullmatch(self.record) else ""
        outcome = "synced" if self.error is None else f"failed:{_code(self.error)}"
        return f"{self.key_id} {outcome} {self.at:%Y-%m-%dT%H:%M:%SZ} {record}".strip()


def _code(error: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "-", error)[:40] or "error"


def status_tag(name: str) -> str:
    return STATUS_TAG_PREFIX + name


def decode_status(value: str) -> DeliveryStatus | None:
    """A status tag's value, or None when it does not parse (edited by hand: ignored)."""
    parts = value.split(" ", 3)
    if len(parts) < 3 or not (parts[1] == "synced" or parts[1].startswith("failed:")):
        return None
    try:
        at = datetime.strptime(parts[2], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None
    error = None if parts[1] == "synced" else parts[1].removeprefix("failed:")
    return DeliveryStatus(parts[0], at, parts[3] if len(parts) > 3 else "", error)


def statuses(tags: Mapping[str, str]) -> tuple[tuple[str, DeliveryStatus], ...]:
    """Each destination's status, by destination name, from the secret's tags."""
    found = []
    for tag, value in sorted(tags.items()):
        if tag.startswith(STATUS_TAG_PREFIX):
            status = decode_status(value)
            if status is not None:
                found.append((tag[len(STATUS_TAG_PREFIX) :], status))
    return tuple(found)


def undelivered(names: Iterable[str], current_key_id: str | None, delivered: Mapping[str, DeliveryStatus]) -> list[str]:
    """The destinations (by name) that do not hold the current key: never sent it, or failed."""
    if current_key_id is None:
        return []
    return [n for n in names if not ((s := delivered.get(n)) and s.key_id == current_key_id and s.synced)]
