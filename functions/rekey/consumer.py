"""`rekey credential-process`: a credential source for consumers outside AWS.

AWS SDKs and the CLI run it from `credential_process` in `~/.aws/config` and read one JSON
document from stdout. It authenticates as the IAM user with the key it obtained last (the first
time: a bootstrap profile), reads the user's secret (AWSCURRENT), caches it and hands it over
with an `Expiration`, so the SDK asks again periodically and moves to a rotated key by itself."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ProfileNotFound

# The key is refused: deleted, deactivated, or not allowed to read the secret.
REJECTED = {
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
    "AccessDenied",
    "AccessDeniedException",
    "ExpiredToken",
}
# When Secrets Manager cannot be reached, a cached key is served for this long at a time.
OFFLINE_EXPIRATION = timedelta(minutes=5)
DEFAULT_REFRESH = timedelta(hours=1)
CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=10)


class CredentialError(Exception):
    """One line telling the operator what to do; the process exits non-zero."""


@dataclass(frozen=True)
class Key:
    access_key_id: str
    secret_access_key: str = field(repr=False)

    def document(self, expiration: datetime) -> dict[str, Any]:
        """The credential_process output (Version 1)."""
        return {
            "Version": 1,
            "AccessKeyId": self.access_key_id,
            "SecretAccessKey": self.secret_access_key,
            "Expiration": expiration.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }


def default_cache_path(secret_id: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in secret_id)
    return Path.home() / ".aws" / "rekey" / f"{safe}.json"


def read_cache(path: Path) -> Key | None:
    try:
        data = json.loads(path.read_text())
        return Key(data["AccessKeyId"], data["SecretAccessKey"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        return None  # unreadable or corrupt: start again from the bootstrap profile


def write_cache(path: Path, key: Key, secret_id: str, now: datetime) -> None:
    """Atomically replace the cache; the file is created with mode 0600 and never widened."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    payload = json.dumps(
        {
            "SecretId": secret_id,
            "AccessKeyId": key.access_key_id,
            "SecretAccessKey": key.secret_access_key,
            "FetchedAt": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
    )
    fd, tmp = tempfile.mkstemp(prefix=".rekey-", dir=path.parent)  # mkstemp creates it 0600
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


ClientFactory = Callable[..., Any]


@dataclass
class CredentialProcess:
    secret_id: str
    cache: Path
    region: str | None = None
    bootstrap_profile: str | None = None
    refresh: timedelta = DEFAULT_REFRESH
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    stderr: TextIO = sys.stderr
    # (credentials or profile) -> Secrets Manager client; injectable for tests.
    make_client: ClientFactory | None = None

    def run(self) -> dict[str, Any]:
        """The credential document, or CredentialError."""
        cached = read_cache(self.cache)
        if cached is not None:
            try:
                return self._fetch(self._client(key=cached), known=cached, cached=True)
            except _Rejected as rejected:
                if not self.bootstrap_profile:
                    raise CredentialError(
                        f"the cached key {cached.access_key_id} was rejected by AWS ({rejected}): it was "
                        f"probably deactivated or deleted after a rotation this machine missed; run once with "
                        f"--bootstrap-profile PROFILE (a working key of the user), or delete {self.cache}"
                    ) from None
                self._say(f"cached key {cached.access_key_id} rejected ({rejected}); using the bootstrap profile")
        if not self.bootstrap_profile:
            raise CredentialError(
                f"no cached key at {self.cache}: run once with --bootstrap-profile PROFILE "
                "(a profile holding a working key of the user)"
            )
        client, bootstrap_key = self._bootstrap_client(self.bootstrap_profile)
        try:
            return self._fetch(client, known=bootstrap_key, cached=False)
        except _Rejected as rejected:
            raise CredentialError(
                f"the bootstrap profile {self.bootstrap_profile!r} cannot read {self.secret_id} ({rejected})"
            ) from None

    def _client(self, *, key: Key) -> Any:
        if self.make_client is not None:
            return self.make_client(key=key, profile=None, region=self.region)
        return boto3.client(
            "secretsmanager",
            region_name=self.region,
            aws_access_key_id=key.access_key_id,
            aws_secret_access_key=key.secret_access_key,
            config=CLIENT_CONFIG,
        )

    def _bootstrap_client(self, profile: str) -> tuple[Any, Key | None]:
        """A client for the bootstrap profile, and the profile's own long-term key if it has one."""
        if self.make_client is not None:
            return self.make_client(key=None, profile=profile, region=self.region), None
        try:
            session = boto3.Session(profile_name=profile, region_name=self.region)
        except ProfileNotFound:
            raise CredentialError(f"profile {profile!r} not found in the AWS config") from None
        credentials = session.get_credentials()
        if credentials is None:
            raise CredentialError(f"the bootstrap profile {profile!r} has no credentials")
        frozen = credentials.get_frozen_credentials()
        key = None if frozen.token else Key(frozen.access_key, frozen.secret_key)
        return session.client("secretsmanager", config=CLIENT_CONFIG), key

    def _fetch(self, client: Any, known: Key | None, cached: bool) -> dict[str, Any]:
        """Read the secret. `known` is the key the client signs with (if it is the user's own);
        `cached` says it came from the cache, so it may be served while AWS is unreachable."""
        fallback = known if cached else None
        now = self.now()
        try:
            value = client.get_secret_value(SecretId=self.secret_id, VersionStage="AWSCURRENT")
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            if code in REJECTED or status in (401, 403):
                raise _Rejected(code) from None
            if code == "ResourceNotFoundException":
                return self._not_rotated_yet(known, cached, now)
            if status >= 500 or code in ("Throttling", "ThrottlingException"):
                return self._offline(fallback, f"{code or status}", now)
            raise CredentialError(f"cannot read {self.secret_id}: {code}") from None
        except BotoCoreError as exc:  # endpoint unreachable, timeouts
            return self._offline(fallback, type(exc).__name__, now)
        try:
            data = json.loads(value["SecretString"])
            key = Key(data["AccessKey"], data["SecretKey"])
        except (KeyError, TypeError, ValueError):
            raise CredentialError(
                f"{self.secret_id} does not hold {{'AccessKey': ..., 'SecretKey': ...}}: is it a rekey secret?"
            ) from None
        if not cached or key != known:
            write_cache(self.cache, key, self.secret_id, now)
        return key.document(now + self.refresh)

    def _not_rotated_yet(self, known: Key | None, cached: bool, now: datetime) -> dict[str, Any]:
        """No secret yet (the user was never rotated): the user's key we signed with is current."""
        if known is None:
            raise CredentialError(
                f"{self.secret_id} does not exist yet and the bootstrap profile holds no long-term key to serve"
            )
        self._say(f"{self.secret_id} does not exist yet; serving the key this machine already has")
        if not cached:
            write_cache(self.cache, known, self.secret_id, now)
        return known.document(now + self.refresh)

    def _offline(self, fallback: Key | None, reason: str, now: datetime) -> dict[str, Any]:
        if fallback is None:
            raise CredentialError(f"Secrets Manager cannot be reached ({reason}) and no key is cached yet")
        self._say(
            f"Secrets Manager cannot be reached ({reason}); serving the cached key {fallback.access_key_id} "
            f"for {int(OFFLINE_EXPIRATION.total_seconds() // 60)} minutes"
        )
        return fallback.document(now + OFFLINE_EXPIRATION)

    def _say(self, message: str) -> None:
        print(f"rekey credential-process: {message}", file=self.stderr)


class _Rejected(Exception):
    pass


CLI_HELP = "print credentials for an AWS SDK from the user's rekey secret (credential_process)"
CLI_DESCRIPTION = """\
Print the credential_process JSON (Version, AccessKeyId, SecretAccessKey, Expiration) for the
IAM user whose key rekey keeps in SECRET_ID, and nothing else on stdout. It signs in with the
key it obtained last (cached, mode 0600); the first time, with --bootstrap-profile. When Secrets
Manager cannot be reached it serves the cached key and says so on stderr. Needs no REKEY_*
configuration."""
CLI_EPILOG = """\
~/.aws/config:
  [profile ci]
  credential_process = rekey credential-process --secret-id rekey/ci-runner --bootstrap-profile ci-bootstrap
  region = eu-west-1

example:
  rekey credential-process --secret-id rekey/ci-runner --bootstrap-profile ci-bootstrap"""


def add_parser(sub: Any) -> None:
    import argparse

    p = sub.add_parser(
        "credential-process",
        help=CLI_HELP,
        description=CLI_DESCRIPTION,
        epilog=CLI_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--secret-id", required=True, help="the user's secret (name or ARN), e.g. rekey/ci-runner")
    p.add_argument("--region", help="the secret's region (default: the profile's or AWS_DEFAULT_REGION)")
    p.add_argument("--cache", type=Path, help="cache file (default: ~/.aws/rekey/<secret>.json)")
    p.add_argument("--bootstrap-profile", help="profile with a working key of the user, used when nothing is cached")
    p.add_argument(
        "--expiration-minutes",
        type=int,
        default=int(DEFAULT_REFRESH.total_seconds() // 60),
        help="how long the SDK may use the key before asking again (default: %(default)s)",
    )


def run_cli(args: Any) -> int:
    if args.expiration_minutes < 1:
        print("rekey credential-process: --expiration-minutes must be at least 1", file=sys.stderr)
        return 2
    process = CredentialProcess(
        secret_id=args.secret_id,
        cache=args.cache or default_cache_path(args.secret_id),
        region=args.region,
        bootstrap_profile=args.bootstrap_profile,
        refresh=timedelta(minutes=args.expiration_minutes),
    )
    try:
        document = process.run()
    except CredentialError as exc:
        print(f"rekey credential-process: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(document))
    return 0
