"""GitHub for the reliability labs: one fake of GitHub's REST API per emulated organization
(rekey_dev.github_fake, the App's private key in the hub's Secrets Manager), and the GitHub
destination's HTTP through a lab's fault injector, so that GitHub's calls are points of the
fault matrix and targets of the soak's chaos like AWS's.

Each request to GitHub is one call of service `github` in the injector's log (an attempt the
adapter makes after a failed one of the same request is a retry, not another call), named
after what it does: CreateInstallationToken, GetPublicKey, GetSecret, PutSecret. The
injector's rules act on them as on AWS's calls: `error` answers with the rule's status in
GitHub's error shape (code `RateLimited`: a primary rate limit, remaining 0 and its reset an
hour away), `timeout` fails before GitHub sees the request, `lost-response` after GitHub applied
it, `crash` kills the process right after GitHub answered."""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from rekey_dev.github_fake import GitHubFake

from rekey.adapters.delivery_github import ATTEMPTS, HttpResponse, urllib_http
from tests.conftest import Org
from tests.faults import Faults, Rule, SimulatedCrash
from tests.reliability.per_org import per_org

SERVICE = "github"
APP_KEY_SECRET = "rekey-delivery/github-app"
OWNER = "acme"
ACCESS_KEY_NAME, SECRET_KEY_NAME = "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"
_OPERATIONS = (
    ("POST", re.compile(r"/app/installations/\d+/access_tokens$"), "CreateInstallationToken"),
    ("GET", re.compile(r"/secrets/public-key$"), "GetPublicKey"),
    ("GET", re.compile(r"/secrets/[^/]+$"), "GetSecret"),
    ("PUT", re.compile(r"/secrets/[^/]+$"), "PutSecret"),
)


def operation(method: str, url: str) -> str:
    path = url.split("?", 1)[0]
    return next((name for m, pattern, name in _OPERATIONS if m == method and pattern.search(path)), f"{method} {path}")


class GitHub:
    """The organization's GitHub: a fake (real time), the App's key in the hub's Secrets Manager,
    and a repository and an installation of the App per lab (so no lab uses another's token)."""

    def __init__(self, org: Org) -> None:
        # GitHub's records move on with the labs' days (Lab.age), or every write of a case would
        # fall within a few seconds; the App's JWT and tokens are judged by the real clock, rekey's.
        self.offset = timedelta(0)
        self.fake = GitHubFake(now=lambda: datetime.now(UTC) + self.offset, auth_now=lambda: datetime.now(UTC)).start()
        org.emulator.client("secretsmanager").create_secret(Name=APP_KEY_SECRET, SecretString=self.fake.private_key_pem)
        self._lock = threading.Lock()

    @classmethod
    def of(cls, org: Org) -> GitHub:
        """The organization's, until the emulator's next reset (which makes a new org)."""
        return per_org(org, "lab_github", cls)

    def destination(self, account_id: str) -> dict[str, Any]:
        """A repository of its own for the lab of `account_id`, and the hub's destination for it."""
        repository = f"{OWNER}/lab-{account_id}"
        with self._lock:
            self.fake.add_repository(repository)
            installation = self.fake.add_installation(OWNER, repositories=[repository])
        return {
            "kind": "github-actions",
            "app_id": str(self.fake.app_id),
            "installation_id": str(installation),
            "private_key_secret": APP_KEY_SECRET,
            "repository": repository,
            "api_url": self.fake.url,
            "allow": {"accounts": [account_id]},
        }

    def held(self, account_id: str) -> tuple[str | None, str | None]:
        """The key id and secret key the lab's repository holds (as GitHub decrypted them)."""
        where = {"repository": f"{OWNER}/lab-{account_id}"}
        access, secret = (self.fake.secret(n, **where) for n in (ACCESS_KEY_NAME, SECRET_KEY_NAME))
        return (access.value if access else None, secret.value if secret else None)

    def expire_tokens(self) -> None:
        """Every installation token GitHub issued so far expires now (rekey buys another)."""
        with self._lock:
            for token in self.fake.tokens.values():
                token.expires_at = min(token.expires_at, datetime.now(UTC) - timedelta(seconds=1))


@dataclass
class _Call:
    method: str
    url: str
    rules: list[Rule]
    attempt: int = 1
    failed: bool = False


class FaultyHttp:
    """The GitHub destination's HTTP (rekey.adapters.delivery_github.Http) through `faults`."""

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self.inner = urllib_http()
        self._last: _Call | None = None

    def __call__(self, method: str, url: str, headers: Mapping[str, str], body: Any | None) -> HttpResponse:
        name = operation(method, url)
        call = self._last  # the adapter sends a request that failed again, at most ATTEMPTS times in all
        retry = (
            call is not None and call.failed and call.attempt < ATTEMPTS and (call.method, call.url) == (method, url)
        )
        if call is None or not retry:
            with self.faults._lock:
                self.faults.calls[(SERVICE, name)] += 1
                self.faults.log.append((SERVICE, name))
                rules = [r for r in self.faults.rules if r.targets(SERVICE, name, {"url": url})]
            call = _Call(method, url, rules)
        else:
            call.attempt += 1
            call.rules = [r for r in call.rules if r in self.faults.rules]  # an outage over is over
        self._last = call
        call.failed = True  # until it answers (the adapter retries a request that did not)
        with self.faults._lock:
            self.faults.sends[(SERVICE, name)] += 1
        for rule in call.rules:
            if rule.kind == "watch" and rule.callback and call.attempt == 1 and self.faults._take(rule):
                rule.callback({"url": url})
            if rule.kind == "error" and self.faults._take(rule, call.attempt):
                refusal = _refusal(rule)
                call.failed = _retried(refusal)
                return refusal
            if rule.kind == "timeout" and self.faults._take(rule):
                raise TimeoutError(f"injected: {name} timed out before GitHub saw it")
        response = self.inner(method, url, headers, body)
        for rule in call.rules:
            if rule.kind == "lost-response" and self.faults._take(rule):
                raise TimeoutError(f"injected: the answer to {name} was lost after GitHub applied it")
        call.failed = _retried(response)
        for rule in call.rules:
            if not (response.status < 300 or rule.on_error):
                continue
            if rule.kind == "crash" and self.faults._take(rule):
                raise SimulatedCrash(f"crashed after {SERVICE}:{name}")
            if rule.kind == "after" and rule.callback and self.faults._take(rule):
                rule.callback({"url": url})
        return response


def _retried(response: HttpResponse) -> bool:
    """Does the adapter send this request again (a 5xx, a rate limit)?"""
    limited = response.headers.get("x-ratelimit-remaining") == "0" or "retry-after" in response.headers
    return response.status >= 500 or response.status == 429 or (response.status == 403 and limited)


def _refusal(rule: Rule) -> HttpResponse:
    """An injected answer, as GitHub words it."""
    headers = {"content-type": "application/json; charset=utf-8"}
    if rule.code == "RateLimited":  # the primary rate limit: nothing left until the reset, an hour away
        reset = int(datetime.now(UTC).timestamp()) + 3600
        headers |= {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)}
        message = "API rate limit exceeded for installation."
    else:
        message = {401: "Bad credentials", 403: "Resource not accessible by integration"}.get(
            rule.status, "Server Error"
        )
    return HttpResponse(rule.status, headers, {"message": message, "status": str(rule.status)})
