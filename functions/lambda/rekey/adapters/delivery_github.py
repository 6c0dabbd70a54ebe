"""GitHub Actions (or Dependabot) secrets as a delivery destination (rekey.domain.delivery, kind
`github-actions`): the user's new key written as two secrets (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY by default)
of a repository, one of its environments, or an organization, through GitHub's REST API.

- rekey authenticates as a GitHub App: a JWT signed with the App's private key (RS256, read from
  the hub's Secrets Manager through `read_hub_secret`) buys an installation token
  (POST /app/installations/{id}/access_tokens), kept per process until 5 minutes before it
  expires, and bought again once if GitHub refuses it (revoked);
- each value is encrypted as GitHub requires, with a libsodium sealed box for the scope's public
  key (GET .../secrets/public-key), and PUT with that key's id;
- **never clobber**: before writing anything it reads both secrets' metadata. A secret of that
  name that the record of rekey's last write (`written`) does not account for, one someone else
  created or changed since, is errors.Conflict, and nothing is written. The record holds what
  GitHub said each secret's `updated_at` was right after rekey's own write, and which scope and
  names it is about. Nothing is ever deleted, no other secret is read or touched;
- **a push interrupted between a write and its record converges** (a crash right after GitHub
  applied a PUT, an answer lost, the record not stored): before its first PUT, the push hands
  `remember` its *intent* — the record as checked, plus `since`, GitHub's time (its Date header)
  when it checked whose the secrets are — and rekey keeps it where it keeps the record. It then
  writes only within PUT_WINDOW of that check (rekey's clock, before every attempt), so any
  write of this push reaches GitHub by since + INTENT_WINDOW. The next push accepts as rekey's a
  secret whose updated_at falls in [since, since + INTENT_WINDOW]: the only writes it takes for
  rekey's without having seen them are in that window, which starts when rekey checked and ends
  before rekey could last have written. Someone else's write in it after a crash is the one
  thing taken for rekey's — the same exposure as a write landing between rekey's check and its
  PUT, which no client of GitHub can exclude (GitHub has no conditional write), bounded to
  INTENT_WINDOW, and only after an interrupted push;
- **GitHub's updated_at has one-second resolution**: the stamp rekey records for its write is
  read back right after the PUT and must fall between its check and GitHub's time when it
  answered the PUT (CLOCK_SLACK either side, for GitHub's servers' clocks): a later stamp is
  someone else's write after rekey's, a Conflict, and rekey records its own write as not
  accounting for it (no intent, the stamp before), so neither this push nor the next takes it
  for rekey's. Within the same second as rekey's PUT, a write by someone else right after it
  leaves GitHub exactly as rekey's alone does (same updated_at, and GitHub shows nothing
  else): no client can tell the two apart, and rekey does not claim to;
- GitHub's answers become rekey's errors (rekey.domain.errors): 401 AccessDenied (the App's
  token or JWT refused), 403 AccessDenied naming the permission the App lacks, or Throttled
  when it is a rate limit (as is 429: retried after Retry-After or x-ratelimit-reset, a bounded
  number of times, through the injected sleep), 404 NotFound, 422 InvalidRequest, 5xx and
  network failures Unavailable (retried twice). Messages name the call and the status, never a
  response body, the token, the App's key or a secret value.

With the option `secrets: dependabot`, the same is done with the scope's Dependabot secrets
(the same API, under .../dependabot/secrets; a repository's or an organization's, no environment's).
The options are checked when REKEY_DESTINATIONS is parsed (rekey.domain.delivery.github_problem).

GitHub's documented endpoints (REST API version 2022-11-28): /repos/{owner}/{repo}/actions/secrets,
/repos/{owner}/{repo}/environments/{environment}/secrets, /orgs/{org}/actions/secrets,
/repos/{owner}/{repo}/dependabot/secrets, /orgs/{org}/dependabot/secrets; each with /public-key
and /{secret_name}."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Protocol
from urllib.parse import quote

import jwt
from nacl.public import PublicKey, SealedBox

from ..domain import errors
from ..domain.delivery import Destination, github_names_problem, github_problem, github_secret_names
from ..domain.entities import NewKey

log = logging.getLogger(__name__)

API_URL = "https://api.github.com"
API_VERSION = "2022-11-28"
USER_AGENT = "rekey (AWS access key rotation)"
# A token is bought again this long before GitHub says it expires (they last an hour).
TOKEN_MARGIN = timedelta(minutes=5)
# The JWT: issued 60 s in the past (clock drift, as GitHub recommends), valid 9 minutes (at most 10).
JWT_BACKDATE = 60
JWT_LIFETIME = 9 * 60
# Each call: at most this many attempts; a rate limit asking for a longer wait fails at once.
ATTEMPTS = 3
MAX_WAIT = 30.0
TIMEOUT = 10.0
RECORD_VERSION = "gh1"
# A push writes only this long after it checked whose the secrets are (else it stops, and the next
# scan checks again); a write of an interrupted push is recognised this long after the check
# (the last attempt may start at PUT_WINDOW and GitHub apply it up to TIMEOUT later).
PUT_WINDOW = timedelta(seconds=20)
CLOCK_SLACK = timedelta(seconds=1)
INTENT_WINDOW = PUT_WINDOW + timedelta(seconds=TIMEOUT) + CLOCK_SLACK
_RECORD = re.compile(RECORD_VERSION + r" ([0-9a-f]{10}) (\S+) (\S+)(?: w([0-9]{8}T[0-9]{6}Z))?")


# --------------------------------------------------------------------------- the HTTP port


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: Mapping[str, str]  # names in lower case
    body: Any  # the parsed JSON, or None (no body, or not JSON)


class Http(Protocol):
    """One HTTP request: `body` sent as JSON when not None. Raises OSError when the server
    could not be reached or did not answer (urllib's errors are OSErrors)."""

    def __call__(self, method: str, url: str, headers: Mapping[str, str], body: Any | None) -> HttpResponse: ...


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is answered as is: following it would carry the token elsewhere."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def urllib_http(timeout: float = TIMEOUT) -> Http:
    """The standard library's HTTP client (the Lambda ships no other), redirects not followed."""
    opener = urllib.request.build_opener(_NoRedirect())

    def call(method: str, url: str, headers: Mapping[str, str], body: Any | None) -> HttpResponse:
        data = None if body is None else json.dumps(body).encode()
        sent = {**headers, **({"Content-Type": "application/json"} if data is not None else {})}
        request = urllib.request.Request(url, data=data, headers=sent, method=method)
        try:
            with opener.open(request, timeout=timeout) as response:
                return _response(response.status, response.headers, response.read())
        except urllib.error.HTTPError as answer:
            with answer:
                return _response(answer.code, answer.headers, answer.read())

    return call


def _response(status: int, headers: Any, payload: bytes) -> HttpResponse:
    try:
        body = json.loads(payload) if payload else None
    except ValueError:
        body = None
    return HttpResponse(status, {str(k).lower(): str(v) for k, v in (headers or {}).items()}, body)


# --------------------------------------------------------------------------- installation tokens


@dataclass(frozen=True)
class _Token:
    value: str = ""
    expires_at: datetime | None = None

    def __repr__(self) -> str:  # never print the token
        return f"_Token(expires_at={self.expires_at})"


class TokenCache:
    """Installation tokens by (API URL, App, installation), for the process's life (a warm
    Lambda reuses them across invocations)."""

    def __init__(self) -> None:
        self._tokens: dict[tuple[str, str, str], _Token] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str, str], now: datetime) -> str | None:
        with self._lock:
            token = self._tokens.get(key)
        if token is None or token.expires_at is None or now >= token.expires_at - TOKEN_MARGIN:
            return None
        return token.value

    def put(self, key: tuple[str, str, str], value: str, expires_at: datetime) -> None:
        with self._lock:
            self._tokens[key] = _Token(value, expires_at)

    def drop(self, key: tuple[str, str, str]) -> None:
        with self._lock:
            self._tokens.pop(key, None)


TOKENS = TokenCache()


# --------------------------------------------------------------------------- GitHub's API


@dataclass(frozen=True)
class _Scope:
    """Where the secrets live: a repository, one of its environments, or an organization."""

    # Under the API URL: repos/{owner}/{repo}, .../environments/{env}, orgs/{org}, or .../dependabot
    # for Dependabot's secrets; a record of rekey's writes names it (see _fingerprint).
    path: str
    secrets: str  # where its secrets are: {path}/actions/secrets, or {path}/secrets for an environment
    where: str  # for messages: "repository o/r", "environment e of repository o/r", "organization o"
    permission: str  # what the App needs, as GitHub's settings name it
    organization: bool


@dataclass(frozen=True)
class _Meta:
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class _Encryptor:
    """A scope's public key: GitHub's id for it, and the sealed box that encrypts for it."""

    key_id: str
    key: PublicKey

    def seal(self, value: str) -> str:
        return base64.b64encode(SealedBox(self.key).encrypt(value.encode())).decode()


class GitHubApp:
    """GitHub's REST API as one installation of the GitHub App: its token (bought with the App's
    JWT, cached, bought again once if refused), GitHub's headers, waits after rate limits and
    retries after 5xx, and GitHub's refusals as rekey's errors (for calls about `scope`)."""

    def __init__(
        self,
        label: str,
        scope: _Scope,
        options: Callable[[str], str | None],
        read_hub_secret: Callable[[str], str],
        now: Callable[[], datetime],
        http: Http,
        sleep: Callable[[float], None],
        tokens: TokenCache,
    ) -> None:
        self.label, self.scope = label, scope
        self.api_url = (options("api_url") or API_URL).rstrip("/")
        self.app_id = options("app_id") or ""
        self.installation_id = options("installation_id") or ""
        self.private_key_secret = options("private_key_secret") or ""
        self._read_hub_secret = read_hub_secret
        self._now = self.now = now
        self._http = http
        self._sleep = sleep
        self._tokens = tokens
        self._answered_at: datetime | None = None

    def __repr__(self) -> str:
        return f"GitHubApp({self.api_url}, app {self.app_id}, installation {self.installation_id})"

    def call(
        self,
        method: str,
        path: str,
        what: str,
        body: Any | None = None,
        *,
        absent_ok: bool = False,
        deadline: datetime | None = None,
    ) -> HttpResponse:
        """One call with the installation's token; a token GitHub refuses is bought again once.
        With `deadline` (rekey's clock), no attempt of it starts later: errors.Unavailable."""
        renewed = False
        while True:
            token = self._token()
            response = self._send(method, path, what, {"Authorization": f"Bearer {token}"}, body, deadline)
            if response.status == 401 and not renewed:
                self._tokens.drop(self._cache_key())
                renewed = True
                continue
            if response.status < 300 or (absent_ok and response.status == 404):
                return response
            raise self._error(response, what)

    def clock(self) -> datetime:
        """GitHub's time when it last answered (its Date header, whole seconds), or rekey's."""
        return self._answered_at or self._now()

    def _send(
        self,
        method: str,
        path: str,
        what: str,
        auth: Mapping[str, str],
        body: Any | None,
        deadline: datetime | None = None,
    ) -> HttpResponse:
        """The request, retried after a rate limit (as GitHub asks), a 5xx or a network failure."""
        headers = {
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
            "User-Agent": USER_AGENT,
            **auth,
        }
        url = f"{self.api_url}/{path}"
        for attempt in range(1, ATTEMPTS + 1):
            if deadline is not None and self._now() > deadline:
                raise errors.Unavailable(
                    f"GitHub: {what} not sent: more than {PUT_WINDOW.seconds} s after rekey checked whose it is "
                    "(the next scan checks again)"
                )
            try:
                response = self._http(method, url, headers, body)
            except OSError as exc:
                failure: errors.RekeyError = errors.Unavailable(
                    f"GitHub could not be reached for {what} ({type(exc).__name__})"
                )
                wait = float(2 ** (attempt - 1))
            else:
                self._answered_at = _date(response) or self._answered_at
                throttled = self._rate_limit_wait(response)
                if throttled is not None:
                    failure = errors.Throttled(
                        f"GitHub rate-limited {what} ({response.status}; it asks to wait {throttled:.0f} s)"
                    )
                    wait = throttled
                elif response.status >= 500:
                    failure = errors.Unavailable(f"GitHub answered {response.status} to {what}")
                    wait = float(2 ** (attempt - 1))
                else:
                    return response
            if attempt == ATTEMPTS or wait > MAX_WAIT:
                raise failure
            log.info("GitHub: %s; retrying in %.0f s", failure, wait)
            self._sleep(wait)
        raise AssertionError("unreachable")

    def _rate_limit_wait(self, response: HttpResponse) -> float | None:
        """How long GitHub asks to wait when `response` is a rate limit (primary or secondary), or
        None when it is not one (a 403 without its signs is a permission refused)."""
        if response.status not in (403, 429):
            return None
        headers = response.headers
        if headers.get("retry-after", "").strip().isdigit():
            return max(1.0, float(headers["retry-after"]))
        if headers.get("x-ratelimit-remaining") == "0" and headers.get("x-ratelimit-reset", "").isdigit():
            return max(1.0, float(headers["x-ratelimit-reset"]) - self._now().timestamp())
        message = response.body.get("message") if isinstance(response.body, dict) else None
        if response.status == 429 or (isinstance(message, str) and "rate limit" in message.lower()):
            return 60.0  # GitHub: without those headers, wait at least a minute
        return None

    def _error(self, response: HttpResponse, what: str) -> errors.RekeyError:
        status, where = response.status, self.scope.where
        if status == 401:
            return errors.AccessDenied(
                f"GitHub: the GitHub App's token was refused (401) for {what}: is installation "
                f"{self.installation_id} of App {self.app_id} still there?"
            )
        if status == 403:
            return errors.AccessDenied(
                f"GitHub refused {what} (403): the GitHub App (installation {self.installation_id}) lacks "
                f"{self.scope.permission} on {where}"
            )
        if status == 404:
            return errors.NotFound(
                f"GitHub: {what} not found (404): {where} does not exist or is not visible to the GitHub App "
                f"(installation {self.installation_id})"
            )
        if status == 422:
            return errors.InvalidRequest(f"GitHub refused {what} as invalid (422)")
        if 300 <= status < 400:
            return errors.NotFound(f"GitHub: {where} moved ({status}): name its new place in REKEY_DESTINATIONS")
        return errors.InvalidRequest(f"GitHub answered {status} to {what}")

    # ----------------------------------------------------------------------- the App's token

    def _cache_key(self) -> tuple[str, str, str]:
        return (self.api_url, self.app_id, self.installation_id)

    def _token(self) -> str:
        now = self._now()
        cached = self._tokens.get(self._cache_key(), now)
        if cached is not None:
            return cached
        what = f"an installation token (App {self.app_id}, installation {self.installation_id})"
        response = self._send(
            "POST",
            f"app/installations/{self.installation_id}/access_tokens",
            what,
            {"Authorization": f"Bearer {self._jwt(now)}"},
            None,
        )
        if response.status == 401:
            raise errors.AccessDenied(
                f"GitHub: the GitHub App's token was refused (401) for {what}: its JWT did not verify; check "
                f"app_id and that {self.private_key_secret} holds the App's current private key"
            )
        if response.status == 403:
            raise errors.AccessDenied(f"GitHub refused {what} (403): is the installation suspended?")
        if response.status == 404:
            raise errors.NotFound(f"GitHub: installation {self.installation_id} of App {self.app_id} not found (404)")
        if response.status >= 300:
            raise self._error(response, what)
        body = response.body if isinstance(response.body, dict) else {}
        token, expires = body.get("token"), body.get("expires_at")
        try:
            expires_at = datetime.fromisoformat(str(expires).replace("Z", "+00:00"))
        except ValueError:
            expires_at = None
        if not isinstance(token, str) or not token or expires_at is None:
            raise errors.Unavailable(f"GitHub answered {what} in an unexpected shape")
        self._tokens.put(self._cache_key(), token, expires_at)
        log.debug("GitHub: new token for installation %s, until %s", self.installation_id, expires)
        return token

    def _jwt(self, now: datetime) -> str:
        """The App's JWT (RS256): iat 60 s in the past, exp 9 minutes ahead, iss the App's id."""
        pem = self._read_hub_secret(self.private_key_secret)
        issued = int(now.timestamp()) - JWT_BACKDATE
        try:
            return jwt.encode({"iat": issued, "exp": issued + JWT_LIFETIME, "iss": self.app_id}, pem, algorithm="RS256")
        except Exception:  # never the key's text in a message
            raise errors.ConfigurationError(
                f"GitHub destination {self.label}: {self.private_key_secret} does not hold a PEM RSA "
                "private key (the GitHub App's)"
            ) from None


# --------------------------------------------------------------------------- the destination


class GitHubActionsDestination:
    """DeliveryDestination (rekey.ports) for GitHub Actions secrets; built by github_destination."""

    def __init__(
        self,
        destination: Destination,
        user_name: str,
        read_hub_secret: Callable[[str], str],
        now: Callable[[], datetime],
        http: Http,
        sleep: Callable[[float], None],
        tokens: TokenCache,
    ) -> None:
        self.destination = destination
        option = destination.option
        self.visibility = option("visibility") or "private"
        self.dependabot = option("secrets") == "dependabot"
        self.names = github_secret_names(dict(destination.options), user_name)
        # Checked when REKEY_DESTINATIONS is parsed; again here, for what the user's name makes.
        self.problem = github_problem(dict(destination.options)) or github_names_problem(self.names)
        self.scope = self._scope()
        self.github = GitHubApp(destination.name, self.scope, option, read_hub_secret, now, http, sleep, tokens)

    def __repr__(self) -> str:
        return f"GitHubActionsDestination({self.destination.name}: {self.scope.where}, {', '.join(self.names)})"

    def _scope(self) -> _Scope:
        option = self.destination.option
        repository, environment, organization = option("repository"), option("environment"), option("organization")
        # Dependabot's secrets: the same API under .../dependabot/secrets (no environments).
        kind, app = ("dependabot", "Dependabot secrets") if self.dependabot else ("actions", "Secrets")
        suffix = " (Dependabot)" if self.dependabot else ""
        if organization is not None:
            path = f"orgs/{quote(organization, safe='')}"
            return _Scope(
                path if not self.dependabot else f"{path}/dependabot",
                f"{path}/{kind}/secrets",
                f"organization {organization}{suffix}",
                f"{app} (organization permission: read and write)",
                True,
            )
        owner, _, name = (repository or "").partition("/")
        path = f"repos/{quote(owner, safe='')}/{quote(name, safe='')}"
        if environment is not None:
            path = f"{path}/environments/{quote(environment, safe='')}"
            return _Scope(
                path,
                f"{path}/secrets",
                f"environment {environment} of repository {repository}",
                "Environments and Secrets (repository permissions: read and write)",
                False,
            )
        return _Scope(
            path if not self.dependabot else f"{path}/dependabot",
            f"{path}/{kind}/secrets",
            f"repository {repository}{suffix}",
            f"{app} (repository permission: read and write)",
            False,
        )

    # ----------------------------------------------------------------------- push

    def push(self, key: NewKey, written: str | None, remember: Callable[[str], None] | None = None) -> str:
        """Write `key` as the two secrets, unless either holds something rekey did not write
        (errors.Conflict, nothing written). Returns the record of this write. Before the first
        write, `remember` is given the record of the intent (if it raises, nothing is written);
        a failure after it carries, as `.written`, the record the next push should be given
        (the intent, with the secrets written so far)."""
        if self.problem:
            raise errors.ConfigurationError(f"GitHub destination {self.destination.name}: {self.problem}")
        last = _Record.parse(written, self._fingerprint())
        public_key = self._public_key()
        found = {name: self._meta(name) for name in self.names}
        checked_at, deadline = self.github.clock(), self.github.now() + PUT_WINDOW
        stamps = [self._whose(name, found[name], last, i) for i, name in enumerate(self.names)]
        if remember is not None:
            remember(_Record(self._fingerprint(), tuple(stamps), checked_at).encode())
        value = (key.key_id, key.secret_access_key)
        for i, name in enumerate(self.names):
            try:
                stamps[i] = self._write(name, value[i], public_key, checked_at, deadline)
            except errors.RekeyError as failure:
                since = None if isinstance(failure, _WrittenOver) else checked_at
                failure.written = _Record(self._fingerprint(), tuple(stamps), since).encode()  # type: ignore[attr-defined]
                raise
        log.info(
            "GitHub %s: key %s written as %s (destination %s)",
            self.scope.where,
            key.key_id,
            " and ".join(self.names),
            self.destination.name,
        )
        return _Record(self._fingerprint(), tuple(stamps)).encode()

    def _whose(self, name: str, meta: _Meta | None, last: _Record | None, index: int) -> str:
        """The stamp of rekey's write that `meta` is ("-": absent), or errors.Conflict."""
        if meta is None:
            return "-"  # absent (never written, or deleted since): creating it overwrites nothing
        stamp = _compact(meta.updated_at)
        if last is not None and (last.stamps[index] == stamp != "-" or last.interrupted_write(stamp)):
            return stamp
        if last is None or last.stamps[index] == "-":
            raise errors.Conflict(
                f"GitHub {self.scope.where} already has a secret {name} that rekey did not write: "
                "nothing written (remove it, or name other secrets in REKEY_DESTINATIONS)"
            )
        raise errors.Conflict(
            f"GitHub {self.scope.where}: secret {name} was changed by someone else since rekey wrote it "
            f"(updated {meta.updated_at}): nothing written"
        )

    def _write(self, name: str, value: str, public_key: _Encryptor, checked_at: datetime, deadline: datetime) -> str:
        """PUT one secret, then the stamp of that write: GitHub's updated_at read back, which
        must fall between the check and GitHub's answer to the PUT."""
        self._put(name, value, public_key, deadline)
        answered_at = self.github.clock()
        meta = self._meta(name)
        if meta is None:
            raise errors.Conflict(f"GitHub {self.scope.where}: secret {name} vanished right after rekey wrote it")
        stamp = _compact(meta.updated_at)
        if stamp > _stamp(answered_at + CLOCK_SLACK):
            raise _WrittenOver(
                f"GitHub {self.scope.where}: secret {name} was written by someone else right after rekey wrote it "
                f"(updated {meta.updated_at}): nothing more written"
            )
        if stamp < _stamp(checked_at - CLOCK_SLACK):
            raise errors.Unavailable(
                f"GitHub {self.scope.where} did not show rekey's write of secret {name} yet (updated {meta.updated_at})"
            )
        return stamp

    def _fingerprint(self) -> str:
        """Which scope and names a record is about: a record of other ones accounts for nothing."""
        about = "|".join((self.github.api_url, self.scope.path, *self.names)).lower()
        return hashlib.sha256(about.encode()).hexdigest()[:10]

    # ----------------------------------------------------------------------- GitHub's calls

    def _public_key(self) -> _Encryptor:
        what = f"the secrets' public key of {self.scope.where}"
        body = self.github.call("GET", f"{self.scope.secrets}/public-key", what).body
        try:
            return _Encryptor(str(body["key_id"]), PublicKey(base64.b64decode(body["key"], validate=True)))
        except Exception:  # not the documented {"key_id": ..., "key": <base64 of 32 bytes>}
            raise errors.Unavailable(f"GitHub answered {what} in an unexpected shape") from None

    def _meta(self, name: str) -> _Meta | None:
        what = f"secret {name} of {self.scope.where}"
        response = self.github.call("GET", f"{self.scope.secrets}/{name}", what, absent_ok=True)
        if response.status == 404:
            return None
        body = response.body if isinstance(response.body, dict) else {}
        if not isinstance(body.get("updated_at"), str):
            raise errors.Unavailable(f"GitHub answered {what} without its updated_at")
        return _Meta(str(body.get("created_at", "")), body["updated_at"])

    def _put(self, name: str, value: str, public_key: _Encryptor, deadline: datetime | None = None) -> None:
        body: dict[str, Any] = {"encrypted_value": public_key.seal(value), "key_id": public_key.key_id}
        if self.scope.organization:
            body["visibility"] = self.visibility
        what = f"secret {name} of {self.scope.where}"
        self.github.call("PUT", f"{self.scope.secrets}/{name}", what, body, deadline=deadline)


def _compact(timestamp: str) -> str:
    """An ISO time as a record holds it: 2026-12-06T20:10:00Z -> 20261206T201000Z."""
    compact = re.sub(r"[^0-9A-Za-z]", "", timestamp)
    return compact if compact else "-"


def _stamp(at: datetime) -> str:
    """A time as a record holds it (whole seconds, UTC): compared as text with GitHub's."""
    return at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _date(response: HttpResponse) -> datetime | None:
    """GitHub's time when it answered (its Date header), or None."""
    try:
        return parsedate_to_datetime(response.headers["date"]).astimezone(UTC)
    except (KeyError, TypeError, ValueError, IndexError):
        return None


class _WrittenOver(errors.Conflict):
    """Someone else wrote a secret right after rekey did: rekey's write accounts for nothing."""


@dataclass(frozen=True)
class _Record:
    """What rekey keeps of its writes to one scope (its fingerprint): for each secret, GitHub's
    updated_at right after rekey's last write ("-": none); and while a push is under way or was
    interrupted, `since`: GitHub's time when that push checked whose the secrets are."""

    fingerprint: str
    stamps: tuple[str, ...]
    since: datetime | None = None

    def encode(self) -> str:
        intent = (f"w{_stamp(self.since)}",) if self.since is not None else ()
        return " ".join((RECORD_VERSION, self.fingerprint, *self.stamps, *intent))

    @classmethod
    def parse(cls, written: str | None, fingerprint: str) -> _Record | None:
        """`written` if it is a record of this scope and these names, else None."""
        match = _RECORD.fullmatch(written or "")
        if match is None or match.group(1) != fingerprint:
            return None
        since = datetime.strptime(match.group(4), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC) if match.group(4) else None
        return cls(fingerprint, match.group(2, 3), since)

    def interrupted_write(self, stamp: str) -> bool:
        """Could `stamp` be a write of the interrupted push this record is the intent of?"""
        since = self.since
        return since is not None and _stamp(since - CLOCK_SLACK) <= stamp <= _stamp(since + INTENT_WINDOW)


def github_destination(
    destination: Destination,
    user_name: str,
    read_hub_secret: Callable[[str], str],
    now: Callable[[], datetime],
    http: Http | None = None,
    *,
    sleep: Callable[[float], None] | None = None,
    tokens: TokenCache | None = None,
) -> GitHubActionsDestination:
    """The destination `destination` (kind github-actions) for `user_name`. `read_hub_secret`:
    a secret's string in the hub's Secrets Manager, by name or ARN (the App's PEM private key);
    `now`: the clock GitHub shares (the JWT's times, the token's expiry); `http`: urllib's by
    default; `sleep`: rate limits' and retries' waits (time.sleep by default); `tokens`: the
    process's cache by default. Options that cannot be used (checked when REKEY_DESTINATIONS is
    parsed; secret names that the user's name makes unusable) raise errors.ConfigurationError at
    push, as any other failure of the destination."""
    return GitHubActionsDestination(
        destination,
        user_name,
        read_hub_secret,
        now,
        http or urllib_http(),
        sleep or time.sleep,
        tokens or TOKENS,
    )
