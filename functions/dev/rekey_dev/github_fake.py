"""GitHub's REST API for Actions secrets, played on 127.0.0.1 for the GitHub Actions destination
(rekey.adapters.delivery_github) in tests and the demo: a real HTTP server, answering in GitHub's
documented shapes and statuses (REST API version 2022-11-28), so the adapter is tested through
the same bytes it would exchange with api.github.com.

- **a GitHub App**: its RSA key pair made per fake (`private_key_pem` is what the hub's Secrets
  Manager would hold). POST /app/installations/{id}/access_tokens verifies the JWT as GitHub
  does: RS256 signed by the App's key, `iss` the App's id, `iat` not in the future (60 s of
  drift allowed), `exp` in the future and at most 10 minutes ahead; 401 otherwise. It answers
  201 with a `ghs_` token, its `expires_at` (an hour), the installation's permissions and
  repository selection; 404 for an unknown installation, 403 for a suspended one. GET /app;
- **installation tokens**: expired or revoked (`revoke_tokens`) tokens are 401 Bad credentials.
  A repository the installation does not cover, or an organization it is not installed on, is
  404 (GitHub hides what a token cannot see); a permission it lacks (`secrets`, `environments`,
  `organization_secrets`, `dependabot_secrets`, `organization_dependabot_secrets`: read for GET,
  write for PUT and DELETE) is 403 "Resource not accessible by integration";
- **secrets** of repositories, their environments, and organizations (Actions'), and of
  repositories and organizations (Dependabot's, .../dependabot/secrets), each scope with its own
  libsodium key pair (GET .../public-key: key_id and base64 key): PUT decrypts the sealed box
  with the scope's private key and keeps the plaintext for the test to read (`secret`); 201 with
  `{}` when created, 204 when updated; `created_at`, `updated_at` (whole seconds, the fake's
  clock). 422 for a name GitHub refuses, a missing or stale key_id, a value that does not
  decrypt, an organization secret without a valid visibility. GET one (name, created_at,
  updated_at; an organization's: visibility, and selected_repositories_url when `selected`),
  list (total_count and secrets, per_page and page, a Link header), DELETE;
- **rate limits**: every answer carries x-ratelimit-limit/remaining/used/reset/resource; the
  primary limit (`rate_limit`: N requests per window, then 403 or 429 with remaining 0 until the
  reset) and a secondary one (`secondary_rate_limit`: after N requests, 403 or 429 with
  Retry-After for S seconds, or without it), both on the fake's clock;
- **faults**: `fail(status, method, path)` answers the next matching request(s) with that status
  in GitHub's error shape (message, documentation_url, status);
- requests without a User-Agent are refused (403), an unsupported X-GitHub-Api-Version is 400,
  as GitHub does; each request is recorded (`requests`: method, path, headers with the
  Authorization value replaced by its kind).

Not modelled: OAuth and personal tokens, tokens narrowed to repositories or permissions, GitHub
Enterprise's paths, Codespaces secrets, pagination of anything but secrets,
conditional requests, secret size limits. Emulator only: nothing here is in the Lambda package."""

from __future__ import annotations

import base64
import json
import logging
import re
import secrets
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, SealedBox

log = logging.getLogger(__name__)

API_VERSIONS = ("2022-11-28", "2026-03-10")
DOCS = "https://docs.github.com/rest"
TOKEN_LIFETIME = timedelta(hours=1)
JWT_MAX_LIFETIME = 600  # exp at most 10 minutes ahead
JWT_DRIFT = 60  # iat may be this far in the future (clock drift)
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
VISIBILITIES = ("all", "private", "selected")
FULL_PERMISSIONS = {
    "metadata": "read",
    "secrets": "write",
    "environments": "write",
    "organization_secrets": "write",
    "dependabot_secrets": "write",
    "organization_dependabot_secrets": "write",
}


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Secret:
    name: str
    created_at: str
    updated_at: str
    value: str = field(repr=False)  # the plaintext the fake decrypted (GitHub never shows it)
    visibility: str | None = None  # an organization's secret
    selected_repository_ids: tuple[int, ...] = ()


@dataclass
class Scope:
    """Where secrets live (a repository, an environment, an organization): its key pair and secrets."""

    key_id: str = field(default_factory=lambda: str(secrets.randbelow(10**18) + 10**17))
    private_key: PrivateKey = field(default_factory=PrivateKey.generate, repr=False)
    secrets: dict[str, Secret] = field(default_factory=dict)  # by upper-case name

    def public_key(self) -> dict[str, str]:
        return {"key_id": self.key_id, "key": base64.b64encode(bytes(self.private_key.public_key)).decode()}


@dataclass
class Repository:
    owner: str
    name: str
    id: int
    scope: Scope = field(default_factory=Scope)
    environments: dict[str, Scope] = field(default_factory=dict)  # by lower-case name
    dependabot: Scope = field(default_factory=Scope)  # its Dependabot secrets

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


@dataclass
class Installation:
    id: int
    account: str  # the organization (or user) it is installed on
    repositories: frozenset[str] | None  # lower-case owner/name; None: all of the account's
    permissions: dict[str, str]
    suspended: bool = False

    def covers(self, repository: Repository) -> bool:
        if repository.owner.lower() != self.account.lower():
            return False
        return self.repositories is None or repository.full_name.lower() in self.repositories


@dataclass
class Token:
    value: str = field(repr=False)
    installation_id: int
    expires_at: datetime
    revoked: bool = False


@dataclass
class Fault:
    status: int
    method: str | None
    path: re.Pattern[str] | None
    times: int
    message: str | None
    headers: dict[str, str]


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names; authorization: "jwt", "token", or what else it was


@dataclass
class _Answer:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class _Refused(Exception):
    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.answer = _Answer(
            status, {"message": message, "documentation_url": DOCS, "status": str(status)}, dict(headers or {})
        )


class GitHubFake:
    """GitHub's REST API on 127.0.0.1 until stopped, with one GitHub App."""

    def __init__(
        self,
        *,
        now: Callable[[], datetime] | None = None,
        app_id: int = 424242,
        auth_now: Callable[[], datetime] | None = None,
    ) -> None:
        """`now`: GitHub's clock (secrets' times, the Date header, rate limits); `auth_now`: the
        one the JWT and tokens are judged by, if another (a lab whose days pass in seconds moves
        GitHub's records on with its days, while rekey signs its JWT by the real clock)."""
        self.now = now or (lambda: datetime.now(UTC))
        self.auth_now = auth_now or self.now
        self.app_id = app_id
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.private_key_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        self._public_key = key.public_key()
        self.installations: dict[int, Installation] = {}
        self.repositories: dict[str, Repository] = {}  # by lower-case owner/name
        self.organizations: dict[str, Scope] = {}  # by lower-case login
        self.organizations_dependabot: dict[str, Scope] = {}  # their Dependabot secrets
        self.tokens: dict[str, Token] = {}
        self.requests: list[Request] = []
        self.faults: list[Fault] = []
        # The primary rate limit: requests per window; the window's start and count.
        self.limit = 5000
        self.window = timedelta(hours=1)
        self.limit_status = 403
        self._window_start: datetime | None = None
        self._used = 0
        # The secondary rate limit: after this many requests, refused until `_blocked_until`.
        self._secondary: tuple[int, int | None, int] | None = None  # (after, retry_after, status)
        self._blocking: tuple[int | None, int] | None = None  # (retry_after, status) once it began
        self._blocked_until: datetime | None = None
        self._lock = threading.RLock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_class(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="rekey-github-fake", daemon=True
        )

    # ----------------------------------------------------------------------- serving

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> GitHubFake:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> GitHubFake:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----------------------------------------------------------------------- the world

    def add_installation(
        self, account: str, *, repositories: Iterable[str] | None = None, permissions: Mapping[str, str] | None = None
    ) -> int:
        """Install the App on `account` (all its repositories, or those named): its id."""
        with self._lock:
            installation_id = 1000 + len(self.installations) + 1
            selected = None if repositories is None else frozenset(r.lower() for r in repositories)
            granted = dict(FULL_PERMISSIONS if permissions is None else permissions)
            self.installations[installation_id] = Installation(installation_id, account, selected, granted)
            return installation_id

    def add_repository(self, full_name: str, *, environments: Iterable[str] = ()) -> Repository:
        owner, name = full_name.split("/")
        with self._lock:
            repository = self.repositories.setdefault(
                full_name.lower(), Repository(owner, name, id=100000 + len(self.repositories) + 1)
            )
            for environment in environments:
                repository.environments.setdefault(environment.lower(), Scope())
            return repository

    def add_organization(self, login: str) -> Scope:
        with self._lock:
            self.organizations_dependabot.setdefault(login.lower(), Scope())
            return self.organizations.setdefault(login.lower(), Scope())

    def scope(
        self,
        *,
        repository: str | None = None,
        environment: str | None = None,
        organization: str | None = None,
        dependabot: bool = False,
    ) -> Scope:
        if organization is not None:
            return (self.organizations_dependabot if dependabot else self.organizations)[organization.lower()]
        repo = self.repositories[str(repository).lower()]
        if dependabot:
            return repo.dependabot
        return repo.scope if environment is None else repo.environments[environment.lower()]

    def secret(self, name: str, **where: Any) -> Secret | None:
        """The secret `name` of a scope (repository=, environment=, organization=; dependabot=True
        for its Dependabot secrets), as the fake decrypted it; None when there is none."""
        with self._lock:
            return self.scope(**where).secrets.get(name.upper())

    def set_secret(self, name: str, value: str, **where: Any) -> Secret:
        """Someone else (a person, another tool) creates or updates a secret, now."""
        with self._lock:
            scope, stamp = self.scope(**where), _stamp(self.now())
            old = scope.secrets.get(name.upper())
            created = old.created_at if old else stamp
            visibility = (old.visibility if old else "private") if where.get("organization") else None
            scope.secrets[name.upper()] = Secret(name.upper(), created, stamp, value, visibility)
            return scope.secrets[name.upper()]

    def rotate_public_key(self, **where: Any) -> None:
        """GitHub may replace a scope's key pair: values sealed for the old one no longer decrypt."""
        with self._lock:
            scope = self.scope(**where)
            scope.key_id, scope.private_key = Scope().key_id, PrivateKey.generate()

    def revoke_tokens(self) -> None:
        with self._lock:
            for token in self.tokens.values():
                token.revoked = True

    @property
    def issued_tokens(self) -> list[str]:
        return list(self.tokens)

    def fail(
        self,
        status: int,
        *,
        method: str | None = None,
        path: str | None = None,
        times: int = 1,
        message: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Answer the next `times` requests whose method is `method` and path matches the regular
        expression `path` (either: any) with `status`, in GitHub's error shape."""
        with self._lock:
            pattern = re.compile(path) if path is not None else None
            self.faults.append(Fault(status, method, pattern, times, message, dict(headers or {})))

    def rate_limit(self, limit: int, *, window: timedelta = timedelta(hours=1), status: int = 403) -> None:
        """The primary rate limit: `limit` requests per window (from the next request on)."""
        with self._lock:
            self.limit, self.window, self.limit_status = limit, window, status
            self._window_start, self._used = None, 0

    def secondary_rate_limit(self, *, after: int = 0, retry_after: int | None = 60, status: int = 429) -> None:
        """After `after` more requests, refuse for `retry_after` seconds (Retry-After header; None:
        no header, as GitHub sometimes answers, and a minute)."""
        with self._lock:
            self._secondary, self._blocking, self._blocked_until = (after, retry_after, status), None, None

    # ----------------------------------------------------------------------- one request

    def serve(
        self, method: str, target: str, headers: Mapping[str, str], payload: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            parts = urlsplit(target)
            auth = headers.get("authorization", "")
            kind = "jwt" if auth.count(".") == 2 else "token" if auth else ""
            recorded = {k: v for k, v in headers.items() if k != "authorization"}
            self.requests.append(Request(method, parts.path, {**recorded, **({"authorization": kind} if kind else {})}))
            try:
                answer = self._answer(method, parts.path, parse_qs(parts.query), headers, payload)
            except _Refused as refused:
                answer = refused.answer
            answer.headers.update(self._rate_headers())
            log.debug("GitHub fake: %s %s -> %s", method, parts.path, answer.status)
        body = b"" if answer.body is None else json.dumps(answer.body).encode()
        sent = {"content-type": "application/json; charset=utf-8", **answer.headers} if body else answer.headers
        return answer.status, sent, body

    def _answer(
        self, method: str, path: str, query: dict[str, list[str]], headers: Mapping[str, str], payload: bytes
    ) -> _Answer:
        if not headers.get("user-agent"):
            raise _Refused(
                403,
                "Request forbidden by administrative rules. Please make sure your request has a User-Agent header",
            )
        version = headers.get("x-github-api-version")
        if version is not None and version not in API_VERSIONS:
            raise _Refused(400, f"Unsupported 'X-GitHub-Api-Version' header: {version}")
        self._fault(method, path)
        self._throttle()
        match = re.fullmatch(r"/app/installations/(\d+)/access_tokens", path)
        if match:
            if method != "POST":
                raise _Refused(404, "Not Found")
            return self._access_token(int(match.group(1)), headers)
        if path == "/app" and method == "GET":
            self._verify_jwt(headers)
            return _Answer(200, {"id": self.app_id, "slug": "rekey", "name": "rekey"})
        return self._secrets(method, path, query, headers, payload)

    def _fault(self, method: str, path: str) -> None:
        for fault in self.faults:
            if fault.times > 0 and fault.method in (None, method) and (fault.path is None or fault.path.search(path)):
                fault.times -= 1
                messages = {401: "Bad credentials", 403: "Resource not accessible by integration", 404: "Not Found"}
                messages |= {422: "Validation Failed", 500: "Server Error", 502: "Bad Gateway", 503: "Unavailable"}
                raise _Refused(fault.status, fault.message or messages.get(fault.status, "Error"), fault.headers)

    def _throttle(self) -> None:
        now = self.now()
        if self._secondary is not None:
            after, retry_after, status = self._secondary
            if after > 0:
                self._secondary = (after - 1, retry_after, status)
            else:
                self._secondary = None
                self._blocking = (retry_after, status)
                self._blocked_until = now + timedelta(seconds=retry_after if retry_after is not None else 60)
        if self._blocking is not None and self._blocked_until is not None and now < self._blocked_until:
            retry_after, status = self._blocking
            wait = int((self._blocked_until - now).total_seconds() + 0.999)
            raise _Refused(
                status,
                "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
                {"retry-after": str(wait)} if retry_after is not None else {},
            )
        if self._window_start is None or now >= self._window_start + self.window:
            self._window_start, self._used = now, 0
        if self._used >= self.limit:
            raise _Refused(
                self.limit_status, "API rate limit exceeded for installation. Check the x-ratelimit headers."
            )
        self._used += 1

    def _rate_headers(self) -> dict[str, str]:
        start = self._window_start or self.now()
        return {
            "x-ratelimit-limit": str(self.limit),
            "x-ratelimit-remaining": str(max(0, self.limit - self._used)),
            "x-ratelimit-used": str(self._used),
            "x-ratelimit-reset": str(int((start + self.window).timestamp())),
            "x-ratelimit-resource": "core",
        }

    # ----------------------------------------------------------------------- the App

    def _verify_jwt(self, headers: Mapping[str, str]) -> None:
        scheme, _, credential = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or credential.count(".") != 2:
            raise _Refused(401, "A JSON web token could not be decoded")
        try:
            claims = jwt.decode(
                credential,
                self._public_key,
                algorithms=["RS256"],
                options={"verify_exp": False, "verify_iat": False, "verify_nbf": False, "require": ["iat", "exp"]},
            )
        except jwt.PyJWTError:
            raise _Refused(401, "A JSON web token could not be decoded") from None
        now = self.auth_now().timestamp()
        iat, exp = claims.get("iat"), claims.get("exp")
        if not isinstance(iat, int) or iat > now + JWT_DRIFT:
            raise _Refused(
                401, "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued"
            )
        if not isinstance(exp, int | float) or exp <= now:
            raise _Refused(
                401,
                "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the "
                "assertion expires",
            )
        if exp - now > JWT_MAX_LIFETIME:
            raise _Refused(401, "'Expiration time' claim ('exp') is too far in the future")
        if str(claims.get("iss")) != str(self.app_id):
            raise _Refused(401, "'Issuer' claim ('iss') must be the App's id or client id")

    def _access_token(self, installation_id: int, headers: Mapping[str, str]) -> _Answer:
        self._verify_jwt(headers)
        installation = self.installations.get(installation_id)
        if installation is None:
            raise _Refused(404, "Not Found")
        if installation.suspended:
            raise _Refused(403, "This installation has been suspended")
        value = "ghs_" + secrets.token_urlsafe(27).replace("-", "a").replace("_", "b")[:36]
        expires_at = self.auth_now() + TOKEN_LIFETIME
        self.tokens[value] = Token(value, installation_id, expires_at)
        return _Answer(
            201,
            {
                "token": value,
                "expires_at": _stamp(expires_at),
                "permissions": dict(installation.permissions),
                "repository_selection": "all" if installation.repositories is None else "selected",
            },
        )

    def _installation(self, headers: Mapping[str, str]) -> Installation:
        scheme, _, credential = headers.get("authorization", "").partition(" ")
        token = self.tokens.get(credential) if scheme.lower() in ("bearer", "token") else None
        if token is None or token.revoked or self.auth_now() >= token.expires_at:
            raise _Refused(401, "Bad credentials")
        return self.installations[token.installation_id]

    # ----------------------------------------------------------------------- secrets

    def _secrets(
        self, method: str, path: str, query: dict[str, list[str]], headers: Mapping[str, str], payload: bytes
    ) -> _Answer:
        routes = (
            (r"/repos/([^/]+)/([^/]+)/actions/secrets(?:/([^/]+))?", "secrets"),
            (r"/repos/([^/]+)/([^/]+)/environments/([^/]+)/secrets(?:/([^/]+))?", "environments"),
            (r"/orgs/([^/]+)/actions/secrets(?:/([^/]+))?", "organization_secrets"),
            (r"/repos/([^/]+)/([^/]+)/dependabot/secrets(?:/([^/]+))?", "dependabot_secrets"),
            (r"/orgs/([^/]+)/dependabot/secrets(?:/([^/]+))?", "organization_dependabot_secrets"),
        )
        routed = next(((m, p) for pattern, p in routes if (m := re.fullmatch(pattern, path))), None)
        if routed is None:
            raise _Refused(404, "Not Found")
        match, permission = routed
        installation = self._installation(headers)
        groups = [unquote(g) if g is not None else None for g in match.groups()]
        organization = permission in ("organization_secrets", "organization_dependabot_secrets")
        if organization:
            org, name = groups
            scopes = self.organizations_dependabot if "dependabot" in permission else self.organizations
            scope = scopes.get(str(org).lower())
            if scope is None or str(org).lower() != installation.account.lower():
                raise _Refused(404, "Not Found")
        else:
            owner, repo, *rest = groups
            repository = self.repositories.get(f"{owner}/{repo}".lower())
            if repository is None or not installation.covers(repository):
                raise _Refused(404, "Not Found")
            if permission == "environments":
                environment, name = rest
                scope = repository.environments.get(str(environment).lower())
                if scope is None:
                    raise _Refused(404, "Not Found")
            else:
                (name,) = rest
                scope = repository.dependabot if permission == "dependabot_secrets" else repository.scope
        needed = "read" if method == "GET" else "write"
        granted = installation.permissions.get(permission)
        if granted not in (needed, "write", "admin"):
            raise _Refused(403, "Resource not accessible by integration")
        if name is None:
            if method != "GET":
                raise _Refused(404, "Not Found")
            return self._list(scope, path, query, organization)
        if name == "public-key":
            if method != "GET":
                raise _Refused(404, "Not Found")
            return _Answer(200, scope.public_key())
        if method == "GET":
            secret = scope.secrets.get(name.upper())
            if secret is None:
                raise _Refused(404, "Not Found")
            return _Answer(200, self._shape(secret, path.rsplit("/", 1)[0], organization))
        if method == "DELETE":
            if scope.secrets.pop(name.upper(), None) is None:
                raise _Refused(404, "Not Found")
            return _Answer(204)
        if method == "PUT":
            return self._put(scope, name, payload, organization)
        raise _Refused(404, "Not Found")

    def _shape(self, secret: Secret, base: str, organization: bool) -> dict[str, Any]:
        shape: dict[str, Any] = {"name": secret.name, "created_at": secret.created_at, "updated_at": secret.updated_at}
        if organization:
            shape["visibility"] = secret.visibility
            if secret.visibility == "selected":
                shape["selected_repositories_url"] = f"{self.url}{base}/{secret.name}/repositories"
        return shape

    def _list(self, scope: Scope, path: str, query: dict[str, list[str]], organization: bool) -> _Answer:
        try:
            per_page = min(100, max(1, int(query.get("per_page", ["30"])[0])))
            page = max(1, int(query.get("page", ["1"])[0]))
        except ValueError:
            raise _Refused(422, "Validation Failed") from None
        names = sorted(scope.secrets)
        chosen = names[(page - 1) * per_page : page * per_page]
        headers = {}
        last = max(1, -(-len(names) // per_page))
        if page < last:
            link = f"{self.url}{path}?per_page={per_page}&page="
            headers["link"] = f'<{link}{page + 1}>; rel="next", <{link}{last}>; rel="last"'
        body = {
            "total_count": len(names),
            "secrets": [self._shape(scope.secrets[n], path, organization) for n in chosen],
        }
        return _Answer(200, body, headers)

    def _put(self, scope: Scope, name: str, payload: bytes, organization: bool) -> _Answer:
        if not NAME.fullmatch(name) or name.upper().startswith("GITHUB_"):
            raise _Refused(
                422,
                "Secret names can only contain alphanumeric characters or underscores, "
                "must not start with a number or GITHUB_",
            )
        try:
            body = json.loads(payload or b"null")
        except ValueError:
            raise _Refused(400, "Problems parsing JSON") from None
        if not isinstance(body, dict):
            raise _Refused(400, "Problems parsing JSON")
        encrypted, key_id = body.get("encrypted_value"), body.get("key_id")
        if not isinstance(encrypted, str) or not isinstance(key_id, str):
            raise _Refused(422, 'Invalid request.\n\n"encrypted_value" and "key_id" are required.')
        if key_id != scope.key_id:
            raise _Refused(422, "Bad request: the key_id is not this scope's current public key")
        try:
            value = SealedBox(scope.private_key).decrypt(base64.b64decode(encrypted, validate=True)).decode()
        except (CryptoError, ValueError):
            raise _Refused(422, "Bad request: the encrypted_value could not be decrypted") from None
        visibility, selected = None, ()
        if organization:
            visibility = body.get("visibility")
            if visibility not in VISIBILITIES:
                raise _Refused(422, 'Invalid request.\n\n"visibility" must be one of all, private, selected.')
            ids = body.get("selected_repository_ids")
            if ids is not None and (visibility != "selected" or not isinstance(ids, list)):
                raise _Refused(422, 'Invalid request.\n\n"selected_repository_ids" is only for visibility selected.')
            selected = tuple(int(i) for i in ids or ())
        stamp, old = _stamp(self.now()), scope.secrets.get(name.upper())
        if old is not None and organization and visibility == "selected" and not selected:
            selected = old.selected_repository_ids
        scope.secrets[name.upper()] = Secret(
            name.upper(), old.created_at if old else stamp, stamp, value, visibility, selected
        )
        return _Answer(204) if old is not None else _Answer(201, {})


def _handler_class(fake: GitHubFake) -> type[BaseHTTPRequestHandler]:
    class _Request(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        wbufsize = -1  # an answer in one write, flushed whole (no delayed-ACK stall between parts)

        def _answer(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            payload = self.rfile.read(length) if length else b""
            headers = {name.lower(): value for name, value in self.headers.items()}
            status, answer_headers, body = fake.serve(self.command, self.path, headers, payload)
            self.send_response(status)
            for name, value in answer_headers.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _answer

        def date_time_string(self, timestamp: float | None = None) -> str:
            """The Date header, on the fake's clock (GitHub's Date and updated_at share one)."""
            return formatdate(fake.now().timestamp() if timestamp is None else timestamp, usegmt=True)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("GitHub fake: " + format, *args)

    return _Request
