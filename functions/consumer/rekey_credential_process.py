"""`rekey credential-process`: a credential source for consumers outside AWS.

AWS SDKs and the CLI run it from `credential_process` in `~/.aws/config` and read one JSON
document from stdout. It authenticates as the IAM user with the key it obtained last (the first
time: a bootstrap profile), reads the user's secret (AWSCURRENT), caches it and hands it over
with an `Expiration`, so the SDK asks again periodically and moves to a rotated key by itself.

The AWS CLI v1 starts it for every command, so a fresh cache answers with the standard library
only: boto3 (~0.4 s to import) is imported when the secret has to be read.

Its own distribution, rekey-aws-credential-process (functions/consumer/pyproject.toml), needs
boto3 and nothing else: a consumer's machine installs it alone and runs the
`rekey-credential-process` script (`console()`). The full CLI depends on it: the `rekey` script
reaches `main()` here without importing the rest of rekey (`rekey_cli.entry`), and `rekey --help`
lists the command (`add_parser`). This module imports only the standard library, boto3 and
botocore, never rekey, rekey_cli or rekey_dev (tests/unit/test_consumer.py holds it to that)."""

from __future__ import annotations

import argparse
import json
import os
import stat
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

# Neither `typing` nor `dataclasses` at run time: importing them costs a cache hit ~20 ms.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from typing import Any, TextIO

# How it is started, for its messages: as a command of `rekey`, or as its own console script.
PROG = "rekey credential-process"
SCRIPT = "rekey-credential-process"
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
# botocore refreshes credentials 15 minutes before they expire: a cached key is served only
# while its Expiration is further away than that, else every SDK call would start us again.
REFRESH_MARGIN = timedelta(minutes=15)
CACHE_MODE = 0o600


class CredentialError(Exception):
    """One line telling the operator what to do; the process exits non-zero."""


class Key:
    """An access key. Its repr never shows the secret half."""

    __slots__ = ("access_key_id", "secret_access_key")

    def __init__(self, access_key_id: str, secret_access_key: str) -> None:
        self.access_key_id = access_key_id
        self.secret_access_key = secret_access_key

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Key) and (self.access_key_id, self.secret_access_key) == (
            other.access_key_id,
            other.secret_access_key,
        )

    def __hash__(self) -> int:
        return hash(self.access_key_id)

    def __repr__(self) -> str:
        return f"Key({self.access_key_id!r})"

    def document(self, expiration: datetime) -> dict[str, Any]:
        """The credential_process output (Version 1)."""
        return {
            "Version": 1,
            "AccessKeyId": self.access_key_id,
            "SecretAccessKey": self.secret_access_key,
            "Expiration": _timestamp(expiration),
        }


class Cached:
    """A key read from the cache, and when it was read from Secrets Manager."""

    __slots__ = ("fetched_at", "key")

    def __init__(self, key: Key, fetched_at: datetime) -> None:
        self.key = key
        self.fetched_at = fetched_at

    def expiration(self, refresh: timedelta) -> datetime:
        return self.fetched_at + refresh

    def is_fresh(self, now: datetime, refresh: timedelta) -> bool:
        """Served without asking AWS: read less than `refresh` minus botocore's margin ago."""
        return self.fetched_at <= now < self.expiration(refresh) - min(REFRESH_MARGIN, refresh / 2)


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------- region


def resolve_region(
    secret_id: str,
    explicit: str | None = None,
    bootstrap_profile: str | None = None,
    environ: Mapping[str, str] = os.environ,
) -> tuple[str, str]:
    """The secret's region and where it came from, without boto3: `--region`; the secret's ARN;
    the config profile whose `credential_process` runs this command for `secret_id` (the SDK does
    not tell the process which profile started it: the AWS CLI passes neither AWS_PROFILE nor
    `--region` on); the profile AWS_PROFILE names; AWS_REGION / AWS_DEFAULT_REGION; the bootstrap
    profile's region."""
    if explicit:
        return explicit, "--region"
    arn = secret_id.split(":")
    if secret_id.startswith("arn:") and len(arn) > 3 and arn[3]:
        return arn[3], "the secret's ARN"
    profiles = _config_profiles(environ)
    named = environ.get("AWS_DEFAULT_PROFILE") or environ.get("AWS_PROFILE")  # botocore's order
    runners = {
        name: values["region"]
        for name, values in profiles.items()
        if values.get("region") and _runs_for(values.get("credential_process", ""), secret_id)
    }
    if named in runners:
        return runners[named], f"profile {named}"
    if len(set(runners.values())) == 1:
        name = min(runners)
        return runners[name], f"profile {name}"
    if named and profiles.get(named, {}).get("region"):
        return profiles[named]["region"], f"profile {named} (AWS_PROFILE)"
    for variable in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        if environ.get(variable):
            return environ[variable], variable
    if bootstrap_profile and profiles.get(bootstrap_profile, {}).get("region"):
        return profiles[bootstrap_profile]["region"], f"profile {bootstrap_profile} (bootstrap)"
    ambiguous = f" (profiles {', '.join(sorted(runners))} run it with different regions)" if runners else ""
    raise CredentialError(
        f"no region for {secret_id}{ambiguous}: set `region` in the profile whose credential_process "
        "runs this command, or pass --region"
    )


def config_file(environ: Mapping[str, str] = os.environ) -> Path:
    return Path(environ.get("AWS_CONFIG_FILE") or "~/.aws/config").expanduser()


def _config_profiles(environ: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """Profiles of the shared config file, by name ([default] and [profile NAME]), as botocore
    names them; an unreadable file has none (the SDK that started us read it already)."""
    import configparser

    parser = configparser.RawConfigParser(strict=False, interpolation=None)
    try:
        parser.read(config_file(environ), encoding="utf-8")
    except (configparser.Error, OSError, UnicodeDecodeError):
        return {}
    profiles: dict[str, dict[str, str]] = {}
    for section in parser.sections():
        name = section[len("profile ") :].strip() if section.startswith("profile ") else section.strip()
        if section == "default" or section.startswith("profile "):
            profiles[name] = {k: v.strip() for k, v in parser.items(section)}
    return profiles


def _runs_for(command: str, secret_id: str) -> bool:
    """Whether a credential_process line runs this command for `secret_id`: `rekey
    credential-process`, the `rekey-credential-process` script (by path too), or `python -m
    rekey_credential_process`."""
    import shlex

    try:
        words = shlex.split(command)
    except ValueError:
        return False
    if not any(_is_this_command(word) for word in words):
        return False
    for i, word in enumerate(words):
        if word == "--secret-id" and words[i + 1 : i + 2] == [secret_id]:
            return True
        if word == f"--secret-id={secret_id}":
            return True
    return False


def _is_this_command(word: str) -> bool:
    script = word.replace("\\", "/").rsplit("/", 1)[-1].removesuffix(".exe")
    return word in ("credential-process", "rekey_credential_process") or script == SCRIPT


# --------------------------------------------------------------------------- cache


def default_cache_path(secret_id: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in secret_id)
    return Path.home() / ".aws" / "rekey" / f"{safe}.json"


def read_cache(path: Path, secret_id: str, region: str | None) -> tuple[Cached | None, str | None]:
    """The cached key, if this cache may be used: a regular file of this user with mode 0600
    naming `secret_id` (and `region`; caches of earlier versions name none). Otherwise None and
    why it is ignored (None when there is no cache). The file is opened once and checked through
    its descriptor, so it cannot be swapped between the check and the read."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        return None, "is a symbolic link" if path.is_symlink() else f"cannot be read ({exc.strerror})"
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return None, "is not a regular file"
        if hasattr(os, "getuid") and info.st_uid != os.getuid():
            return None, f"belongs to uid {info.st_uid}, not to this user ({os.getuid()})"
        mode = stat.S_IMODE(info.st_mode)
        if os.name == "posix" and mode != CACHE_MODE:
            return None, f"has mode {mode:04o}, not {CACHE_MODE:04o}"
        raw = os.read(fd, 64 * 1024)  # a few hundred bytes; anything longer is not ours
    finally:
        os.close(fd)
    try:
        data = json.loads(raw)
        named, cached_region = data.get("SecretId"), data.get("Region")
        key = Key(_text(data["AccessKeyId"]), _text(data["SecretAccessKey"]))
        fetched_at = datetime.fromisoformat(_text(data["FetchedAt"]))
    except (ValueError, KeyError, TypeError, AttributeError):
        return None, "is not a rekey cache"
    if named != secret_id:
        return None, f"is for another secret ({named})"
    if region and cached_region and cached_region != region:
        return None, f"is for region {cached_region}, not {region}"
    if fetched_at.tzinfo is None:
        fetched_at = fetched_at.replace(tzinfo=UTC)
    return Cached(key, fetched_at), None


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise TypeError("not a string")
    return value


def write_cache(path: Path, key: Key, secret_id: str, now: datetime, region: str | None = None) -> None:
    """Atomically replace the cache with a new file of mode 0600 (never widened, whatever the
    old file's mode or owner was)."""
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    payload = {
        "SecretId": secret_id,
        "Region": region,
        "AccessKeyId": key.access_key_id,
        "SecretAccessKey": key.secret_access_key,
        "FetchedAt": _timestamp(now),
    }
    fd, tmp = tempfile.mkstemp(prefix=".rekey-", dir=path.parent)  # mkstemp creates it 0600
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(json.dumps({k: v for k, v in payload.items() if v is not None}))
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, CACHE_MODE)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------------- the process


def _client_config() -> Any:
    from botocore.config import Config

    return Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=10)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class CredentialProcess:
    """One run: the cached key while fresh, else the secret's AWSCURRENT key read from AWS.
    `make_client(key=, profile=, region=)` builds the Secrets Manager client (tests inject one)."""

    def __init__(
        self,
        secret_id: str,
        cache: Path,
        region: str | None = None,
        bootstrap_profile: str | None = None,
        refresh: timedelta = DEFAULT_REFRESH,
        now: Callable[[], datetime] = _utc_now,
        stderr: TextIO | None = None,
        make_client: Callable[..., Any] | None = None,
        prog: str = PROG,
    ) -> None:
        self.secret_id = secret_id
        self.cache = cache
        self.region = region
        self.bootstrap_profile = bootstrap_profile
        self.refresh = refresh
        self.now = now
        self.stderr = stderr or sys.stderr
        self.make_client = make_client
        self.prog = prog

    def run(self) -> dict[str, Any]:
        """The credential document, or CredentialError."""
        cached, ignored = read_cache(self.cache, self.secret_id, self.region)
        if ignored:
            self._say(f"ignoring the cache {self.cache}: it {ignored}; it is rewritten once a key is read")
        if cached is not None and cached.is_fresh(self.now(), self.refresh):
            return cached.key.document(cached.expiration(self.refresh))
        if cached is not None:
            try:
                return self._fetch(self._client(key=cached.key), known=cached.key, cached=True)
            except _Rejected as rejected:
                if not self.bootstrap_profile:
                    raise CredentialError(
                        f"the cached key {cached.key.access_key_id} was rejected by AWS ({rejected}): it was "
                        f"probably deactivated or deleted after a rotation this machine missed; run once with "
                        f"--bootstrap-profile PROFILE (a working key of the user), or delete {self.cache}"
                    ) from None
                self._say(f"cached key {cached.key.access_key_id} rejected ({rejected}); using the bootstrap profile")
        if not self.bootstrap_profile:
            why = f"the cache {self.cache} {ignored}" if ignored else f"no cached key at {self.cache}"
            raise CredentialError(
                f"{why}: run once with --bootstrap-profile PROFILE (a profile holding a working key of the user)"
            )
        client, bootstrap_key = self._bootstrap_client(self.bootstrap_profile)
        try:
            return self._fetch(client, known=bootstrap_key, cached=False)
        except _Rejected as rejected:
            hint = (
                ": before rekey first rotates the user there is no secret, and AWS refuses to read one that does "
                "not exist unless the user's own policy allows it (README: Consumers)"
                if str(rejected).startswith("AccessDenied")
                else ""
            )
            raise CredentialError(
                f"the bootstrap profile {self.bootstrap_profile!r} cannot read {self.secret_id} ({rejected}){hint}"
            ) from None

    def _client(self, *, key: Key) -> Any:
        if self.make_client is not None:
            return self.make_client(key=key, profile=None, region=self.region)
        import boto3

        return boto3.client(
            "secretsmanager",
            region_name=self.region,
            aws_access_key_id=key.access_key_id,
            aws_secret_access_key=key.secret_access_key,
            config=_client_config(),
        )

    def _bootstrap_client(self, profile: str) -> tuple[Any, Key | None]:
        """A client for the bootstrap profile, and the profile's own long-term key if it has one."""
        if self.make_client is not None:
            return self.make_client(key=None, profile=profile, region=self.region), None
        import boto3
        from botocore.exceptions import ProfileNotFound

        try:
            session = boto3.Session(profile_name=profile, region_name=self.region)
        except ProfileNotFound:
            raise CredentialError(f"profile {profile!r} not found in the AWS config") from None
        credentials = session.get_credentials()
        if credentials is None:
            raise CredentialError(f"the bootstrap profile {profile!r} has no credentials")
        frozen = credentials.get_frozen_credentials()
        key = None if frozen.token else Key(frozen.access_key, frozen.secret_key)
        return session.client("secretsmanager", config=_client_config()), key

    def _fetch(self, client: Any, known: Key | None, cached: bool) -> dict[str, Any]:
        """Read the secret. `known` is the key the client signs with (if it is the user's own);
        `cached` says it came from the cache, so it may be served while AWS is unreachable."""
        from botocore.exceptions import BotoCoreError, ClientError

        fallback = known if cached else None
        now = self.now()
        try:
            value = client.get_secret_value(SecretId=self.secret_id, VersionStage="AWSCURRENT")
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            if code in REJECTED or status in (401, 403):
                raise _Rejected(code or str(status)) from None
            if code == "ResourceNotFoundException":
                return self._not_rotated_yet(known, now)
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
        self._write(key, now)
        return key.document(now + self.refresh)

    def _not_rotated_yet(self, known: Key | None, now: datetime) -> dict[str, Any]:
        """No secret yet (the user was never rotated): the user's key we signed with is current."""
        if known is None:
            raise CredentialError(
                f"{self.secret_id} does not exist yet and the bootstrap profile holds no long-term key to serve"
            )
        self._say(f"{self.secret_id} does not exist yet; serving the key this machine already has")
        self._write(known, now)
        return known.document(now + self.refresh)

    def _offline(self, fallback: Key | None, reason: str, now: datetime) -> dict[str, Any]:
        if fallback is None:
            raise CredentialError(f"Secrets Manager cannot be reached ({reason}) and no key is cached yet")
        self._say(
            f"Secrets Manager cannot be reached ({reason}); serving the cached key {fallback.access_key_id} "
            f"for {int(OFFLINE_EXPIRATION.total_seconds() // 60)} minutes"
        )
        return fallback.document(now + OFFLINE_EXPIRATION)

    def _write(self, key: Key, now: datetime) -> None:
        try:
            write_cache(self.cache, key, self.secret_id, now, self.region)
        except OSError as exc:
            raise CredentialError(f"cannot write the cache {self.cache}: {exc.strerror or exc}") from None

    def _say(self, message: str) -> None:
        print(f"{self.prog}: {message}", file=self.stderr)


class _Rejected(Exception):
    pass


# --------------------------------------------------------------------------- command line

CLI_HELP = "print credentials for an AWS SDK from the user's rekey secret (credential_process)"
CLI_DESCRIPTION = """\
Print the credential_process JSON (Version, AccessKeyId, SecretAccessKey, Expiration) for the
IAM user whose key rekey keeps in SECRET_ID, and nothing else on stdout. The key is cached (mode
0600, used only when it is this user's file with that mode, for the same secret and region) and
served from there until its Expiration is 15 minutes away; then it is read again from Secrets
Manager, signing with the cached key (the first time: with --bootstrap-profile). When Secrets
Manager cannot be reached it serves the cached key and says so on stderr. Every failure is one
line on stderr and a non-zero exit status. Needs no REKEY_* configuration.

The secret's region: --region; else the secret's ARN; else `region` of the config profile whose
credential_process runs this command for SECRET_ID (or of AWS_PROFILE's profile); else
AWS_REGION or AWS_DEFAULT_REGION; else the bootstrap profile's region."""


def epilog(prog: str = PROG) -> str:
    return f"""\
~/.aws/config:
  [profile ci]
  credential_process = {prog} --secret-id rekey/ci-runner --bootstrap-profile ci-bootstrap
  region = eu-west-1

example:
  aws --profile ci sts get-caller-identity"""


class _OneLineErrors(argparse.ArgumentParser):
    """Usage errors as one line on stderr, like every other failure (the SDK shows stderr)."""

    def error(self, message: str) -> Any:
        self.exit(2, f"{self.prog}: {message} (see --help)\n")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--secret-id", required=True, help="the user's secret (name or ARN), e.g. rekey/ci-runner")
    p.add_argument(
        "--region", help="the secret's region (default: the profile's, AWS_REGION/AWS_DEFAULT_REGION; see above)"
    )
    p.add_argument("--cache", type=Path, help="cache file (default: ~/.aws/rekey/<secret>.json)")
    p.add_argument("--bootstrap-profile", help="profile with a working key of the user, used when nothing is cached")
    p.add_argument(
        "--expiration-minutes",
        type=int,
        default=int(DEFAULT_REFRESH.total_seconds() // 60),
        help="how long the SDK may use the key before asking again (default: %(default)s)",
    )


def add_parser(sub: Any) -> None:
    """The subcommand in `rekey --help` (the `rekey` script itself comes straight to main())."""
    p = sub.add_parser(
        "credential-process",
        help=CLI_HELP,
        description=CLI_DESCRIPTION,
        epilog=epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(p)


def main(argv: Sequence[str], prog: str = PROG) -> int:
    """`rekey credential-process ARGS` (or `rekey-credential-process ARGS`: `prog`), parsed with
    nothing else of rekey imported."""
    parser = _OneLineErrors(
        prog=prog,
        description=CLI_DESCRIPTION,
        epilog=epilog(prog),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)
    return run_cli(parser.parse_args(argv), prog)


def console() -> int:
    """The `rekey-credential-process` script of the standalone distribution."""
    return main(sys.argv[1:], SCRIPT)


def run_cli(args: Any, prog: str = PROG) -> int:
    """Print the credential document, or one line on stderr and a non-zero status; never a
    traceback (the SDK would show it to the consumer as its error message)."""
    if args.expiration_minutes < 1:
        print(f"{prog}: --expiration-minutes must be at least 1", file=sys.stderr)
        return 2
    try:
        region, _ = resolve_region(args.secret_id, args.region, args.bootstrap_profile)
        process = CredentialProcess(
            secret_id=args.secret_id,
            cache=args.cache or default_cache_path(args.secret_id),
            region=region,
            bootstrap_profile=args.bootstrap_profile,
            refresh=timedelta(minutes=args.expiration_minutes),
            prog=prog,
        )
        document = process.run()
    except CredentialError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug or an environment we did not foresee: still one line
        detail = " ".join(str(exc).split())[:300]
        print(f"{prog}: unexpected {type(exc).__name__}: {detail}", file=sys.stderr)
        return 1
    print(json.dumps(document))
    return 0


if __name__ == "__main__":  # python -m rekey_credential_process
    raise SystemExit(console())
