"""The GitHub Actions destination (rekey.adapters.delivery_github) against a local fake of GitHub's
REST API (rekey_dev.github_fake), over real HTTP: what the fake decrypts with its private key is
the new key, as GitHub requires it sealed; repository, environment and organization secrets;
the App's JWT and its installation token (cached, renewed); never clobbering a secret rekey did
not write, nor touching any other; each of GitHub's refusals as rekey's error, rate limits
waited out through the injected sleep; and no secret, private key or token in any message or
log line. No moto: the fake is the only server."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from rekey_dev.github_fake import GitHubFake

from rekey.adapters.delivery_github import (
    INTENT_WINDOW,
    PUT_WINDOW,
    GitHubActionsDestination,
    Http,
    HttpResponse,
    TokenCache,
    github_destination,
    urllib_http,
)
from rekey.domain import errors
from rekey.domain.delivery import RECORD, Destination, DestinationsError, parse_destinations
from rekey.domain.entities import NewKey

APP_KEY_SECRET = "arn:aws:secretsmanager:us-east-1:111111111111:secret:rekey-delivery/github-app-AbCdEf"
START = datetime(2027, 3, 1, 9, 0, 0, tzinfo=UTC)


class Clock:
    """The tests' clock, shared by the adapter and the fake: sleeping advances it."""

    def __init__(self) -> None:
        self.at = START
        self.slept: list[float] = []

    def now(self) -> datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(seconds)


class Recorder:
    """The adapter's HTTP, through urllib to the fake, every call kept (headers and JSON body)."""

    def __init__(self, inner: Http | None = None) -> None:
        self.inner = inner or urllib_http()
        self.calls: list[tuple[str, str, dict[str, str], Any]] = []

    def __call__(self, method: str, url: str, headers: Any, body: Any | None) -> HttpResponse:
        self.calls.append((method, url, dict(headers), body))
        return self.inner(method, url, headers, body)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fake(clock: Clock) -> Iterator[GitHubFake]:
    with GitHubFake(now=clock.now) as github:
        github.add_installation("acme")
        github.add_repository("acme/app", environments=["production"])
        github.add_repository("acme/other")
        github.add_organization("acme")
        yield github


class World:
    """Builds destinations for the fake, as the runtime will: the hub's configuration parsed,
    the App's key read from the hub's Secrets Manager (here: a function counting its calls)."""

    def __init__(self, fake: GitHubFake, clock: Clock) -> None:
        self.fake, self.clock = fake, clock
        self.tokens = TokenCache()
        self.http = Recorder()
        self.reads: list[str] = []
        self.pem = fake.private_key_pem
        self.installation = min(fake.installations)  # the fixture's, on acme: every repository

    def read_hub_secret(self, name: str) -> str:
        self.reads.append(name)
        if name != APP_KEY_SECRET:
            raise errors.NotFound(f"hub secret {name} not found")
        return self.pem

    def spec(self, **options: Any) -> Destination:
        spec = {
            "kind": "github-actions",
            "app_id": str(self.fake.app_id),
            "installation_id": str(self.installation),
            "private_key_secret": APP_KEY_SECRET,
            "api_url": self.fake.url,
            "allow": {"accounts": ["111111111111"]},
        }
        if "organization" not in options:
            spec["repository"] = "acme/app"
        spec.update(options)
        spec = {k: v for k, v in spec.items() if v is not None}
        (destination,) = parse_destinations(json.dumps({"ci": spec}))
        return destination

    def destination(self, user: str = "svc-deploy", **options: Any) -> GitHubActionsDestination:
        return github_destination(
            self.spec(**options),
            user,
            self.read_hub_secret,
            self.clock.now,
            self.http,
            sleep=self.clock.sleep,
            tokens=self.tokens,
        )

    def puts(self) -> list[str]:
        return [url for method, url, _, _ in self.http.calls if method == "PUT"]

    def token_requests(self) -> int:
        return sum(1 for _, url, _, _ in self.http.calls if url.endswith("/access_tokens"))


@pytest.fixture
def world(fake: GitHubFake, clock: Clock) -> World:
    return World(fake, clock)


def new_key(n: int = 1) -> NewKey:
    return NewKey(f"AKIAEXAMPLE{n:09d}", f"wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRET{n:04d}", START)


# --------------------------------------------------------------------------- what GitHub receives


def test_the_repository_secrets_hold_the_new_key_sealed_for_the_repository(world: World, fake: GitHubFake) -> None:
    key = new_key()
    record = world.destination().push(key, None)

    access = fake.secret("AWS_ACCESS_KEY_ID", repository="acme/app")
    secret = fake.secret("AWS_SECRET_ACCESS_KEY", repository="acme/app")
    assert access is not None and secret is not None
    # What the fake decrypted with the repository's private key: only a sealed box for its
    # public key opens there.
    assert (access.value, secret.value) == (key.key_id, key.secret_access_key)
    puts = [(url, body) for method, url, _, body in world.http.calls if method == "PUT"]
    assert [url.rsplit("/", 1)[1] for url, _ in puts] == ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]
    scope_key_id = fake.scope(repository="acme/app").key_id
    for _, body in puts:
        assert set(body) == {"encrypted_value", "key_id"} and body["key_id"] == scope_key_id
        assert key.secret_access_key not in json.dumps(body) and key.key_id not in json.dumps(body)
    # The record: what the contract allows, and what GitHub said after the writes.
    assert RECORD.fullmatch(record) and len(record) <= 160
    assert record.split()[2:] == ["20270301T090000Z", "20270301T090000Z"]
    assert fake.secret("AWS_ACCESS_KEY_ID", environment="production", repository="acme/app") is None


def test_every_request_carries_githubs_headers_and_the_right_credential(world: World, fake: GitHubFake) -> None:
    world.destination().push(new_key(), None)
    assert fake.requests and all(r.path.startswith(("/app/", "/repos/acme/app/")) for r in fake.requests)
    for request in fake.requests:
        assert request.headers["accept"] == "application/vnd.github+json"
        assert request.headers["x-github-api-version"] == "2022-11-28"
        assert request.headers["user-agent"].startswith("rekey")
        kind = "jwt" if request.path.endswith("/access_tokens") else "token"
        assert request.headers["authorization"] == kind, request.path
    assert fake.requests[0].path == f"/app/installations/{world.installation}/access_tokens"


def test_the_apps_jwt_is_rs256_issued_a_minute_ago_and_short_lived(world: World, fake: GitHubFake) -> None:
    world.destination().push(new_key(), None)
    (headers,) = [h for _, url, h, _ in world.http.calls if url.endswith("/access_tokens")]
    token = headers["Authorization"].removeprefix("Bearer ")
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    public = serialization.load_pem_private_key(fake.private_key_pem.encode(), None).public_key()
    claims = jwt.decode(token, public, algorithms=["RS256"], options={"verify_exp": False, "verify_iat": False})
    now = int(START.timestamp())
    assert claims["iss"] == str(fake.app_id)
    assert claims["iat"] == now - 60
    assert now < claims["exp"] <= now + 600 and claims["exp"] - claims["iat"] <= 600
    assert world.reads == [APP_KEY_SECRET]


def test_environment_secrets_go_to_the_environment_only(world: World, fake: GitHubFake) -> None:
    key = new_key()
    world.destination(environment="production").push(key, None)
    got = fake.secret("AWS_SECRET_ACCESS_KEY", repository="acme/app", environment="production")
    assert got is not None and got.value == key.secret_access_key
    assert fake.secret("AWS_SECRET_ACCESS_KEY", repository="acme/app") is None
    assert all("/environments/production/secrets/" in url for url in world.puts())


@pytest.mark.parametrize("visibility", [None, "all", "selected"])
def test_organization_secrets_carry_their_visibility(world: World, fake: GitHubFake, visibility: str | None) -> None:
    key = new_key()
    world.destination(organization="acme", visibility=visibility).push(key, None)
    got = fake.secret("AWS_ACCESS_KEY_ID", organization="acme")
    assert got is not None and got.value == key.key_id
    assert got.visibility == (visibility or "private")
    assert all("/orgs/acme/actions/secrets/" in url for url in world.puts())
    assert fake.secret("AWS_ACCESS_KEY_ID", repository="acme/app") is None


def test_secret_names_may_hold_the_user_name_in_githubs_alphabet(world: World, fake: GitHubFake) -> None:
    key = new_key()
    destination = world.destination(
        "svc.ci-deploy@acme", access_key_name="{user_name}_KEY_ID", secret_key_name="aws_secret_{user_name}"
    )
    assert destination.names == ("SVC_CI_DEPLOY_ACME_KEY_ID", "AWS_SECRET_SVC_CI_DEPLOY_ACME")
    destination.push(key, None)
    got = fake.secret("AWS_SECRET_SVC_CI_DEPLOY_ACME", repository="acme/app")
    assert got is not None and got.value == key.secret_access_key
    assert fake.secret("AWS_ACCESS_KEY_ID", repository="acme/app") is None


@pytest.mark.parametrize(
    ("options", "why"),
    [
        ({"organization": "acme", "environment": "production"}, "environment is for a repository"),
        ({"repository": "acme"}, "is not owner/name"),
        ({"organization": "acme/app"}, "is not an organization's name"),
        ({"visibility": "all"}, "visibility is for an organization"),
        ({"organization": "acme", "visibility": "public"}, "visibility must be one of"),
        ({"api_url": "http://github.example.com"}, "is not an https:// URL"),
        ({"app_id": "rekey-app"}, "numeric ids"),
        ({"secret_key_name": "github_token"}, "GITHUB_"),
        ({"access_key_name": "1_{user_name}"}, "start with a digit"),
        ({"secret_key_name": "aws_access_key_id"}, "are both AWS_ACCESS_KEY_ID"),
        ({"secrets": "codespaces"}, "secrets must be one of actions, dependabot"),
        ({"secrets": "dependabot", "environment": "production"}, "not an environment's"),
    ],
)
def test_options_that_cannot_be_used_are_refused_where_the_hubs_configuration_is_read(
    world: World, options: dict[str, str], why: str
) -> None:
    with pytest.raises(DestinationsError, match=why) as refused:
        world.spec(**options)
    assert str(refused.value).startswith("ci: ") and "\n" not in str(refused.value)


@pytest.mark.parametrize(
    ("user", "options", "why"),
    [
        ("1svc", {"access_key_name": "{user_name}_ID"}, "start with a digit"),
        ("github", {"access_key_name": "{user_name}_{user_name}"}, "GITHUB_"),
    ],
)
def test_names_a_users_name_makes_unusable_fail_its_push_before_any_request(
    world: World, fake: GitHubFake, user: str, options: dict[str, str], why: str
) -> None:
    destination = world.destination(user, **options)
    with pytest.raises(errors.ConfigurationError, match=why):
        destination.push(new_key(), None)
    assert world.http.calls == [] and fake.requests == [] and world.reads == []
    assert world.destination("svc", **options).push(new_key(), None)  # another user's names are fine


# --------------------------------------------------------------------------- Dependabot's secrets


def test_dependabot_secrets_of_a_repository_hold_the_new_key_and_actions_secrets_are_untouched(
    world: World, fake: GitHubFake
) -> None:
    key = new_key()
    world.destination(secrets="dependabot").push(key, None)
    access = fake.secret("AWS_ACCESS_KEY_ID", repository="acme/app", dependabot=True)
    secret = fake.secret("AWS_SECRET_ACCESS_KEY", repository="acme/app", dependabot=True)
    assert access is not None and secret is not None
    assert (access.value, secret.value) == (key.key_id, key.secret_access_key)  # sealed for Dependabot's key
    assert all("/repos/acme/app/dependabot/secrets/" in url for url in world.puts())
    assert fake.secret("AWS_ACCESS_KEY_ID", repository="acme/app") is None


@pytest.mark.parametrize("visibility", [None, "selected"])
def test_dependabot_secrets_of_an_organization_carry_their_visibility(
    world: World, fake: GitHubFake, visibility: str | None
) -> None:
    key = new_key()
    world.destination(organization="acme", secrets="dependabot", visibility=visibility).push(key, None)
    got = fake.secret("AWS_SECRET_ACCESS_KEY", organization="acme", dependabot=True)
    assert got is not None and got.value == key.secret_access_key and got.visibility == (visibility or "private")
    assert all("/orgs/acme/dependabot/secrets/" in url for url in world.puts())
    assert fake.secret("AWS_ACCESS_KEY_ID", organization="acme") is None


def test_a_record_of_the_actions_secrets_accounts_for_nothing_in_dependabots(world: World, fake: GitHubFake) -> None:
    """The same repository and names, the other kind of secrets: another place, never clobbered."""
    record = world.destination().push(new_key(1), None)
    fake.set_secret("AWS_ACCESS_KEY_ID", "theirs", repository="acme/app", dependabot=True)
    with pytest.raises(errors.Conflict, match=r"repository acme/app \(Dependabot\) already has a secret"):
        world.destination(secrets="dependabot").push(new_key(2), record)
    theirs = fake.secret("AWS_ACCESS_KEY_ID", repository="acme/app", dependabot=True)
    assert theirs is not None and theirs.value == "theirs"


def test_a_dependabot_destination_without_its_permission_says_which(world: World, fake: GitHubFake) -> None:
    actions_only = fake.add_installation("acme", permissions={"metadata": "read", "secrets": "write"})
    with pytest.raises(errors.AccessDenied, match=r"lacks Dependabot secrets \(repository permission"):
        world.destination(installation_id=str(actions_only), secrets="dependabot").push(new_key(), None)
    with pytest.raises(errors.AccessDenied, match=r"lacks Dependabot secrets \(organization permission"):
        world.destination(installation_id=str(actions_only), organization="acme", secrets="dependabot").push(
            new_key(), None
        )
    assert fake.secret("AWS_ACCESS_KEY_ID", repository="acme/app", dependabot=True) is None


# --------------------------------------------------------------------------- the installation token


def test_the_installation_token_is_kept_until_shortly_before_it_expires(
    world: World, fake: GitHubFake, clock: Clock
) -> None:
    record = world.destination("alice").push(new_key(1), None)
    record = world.destination("alice").push(new_key(2), record)  # another instance: the process's cache
    assert world.token_requests() == 1 and world.reads == [APP_KEY_SECRET]
    clock.advance(54 * 60)  # 6 minutes left: still used
    record = world.destination("alice").push(new_key(3), record)
    assert world.token_requests() == 1
    clock.advance(2 * 60)  # 4 minutes left: bought again before GitHub would refuse it
    world.destination("alice").push(new_key(4), record)
    assert world.token_requests() == 2 and world.reads == [APP_KEY_SECRET] * 2
    assert len(fake.issued_tokens) == 2


def test_a_revoked_token_is_bought_again_once(world: World, fake: GitHubFake) -> None:
    record = world.destination().push(new_key(1), None)
    fake.revoke_tokens()
    world.destination().push(new_key(2), record)
    assert world.token_requests() == 2
    got = fake.secret("AWS_ACCESS_KEY_ID", repository="acme/app")
    assert got is not None and got.value == new_key(2).key_id


def test_a_token_refused_twice_is_access_denied(world: World, fake: GitHubFake) -> None:
    fake.fail(401, path=r"/actions/secrets/public-key$", times=2)
    with pytest.raises(errors.AccessDenied, match="the GitHub App's token was refused"):
        world.destination().push(new_key(), None)
    assert world.token_requests() == 2 and world.puts() == []


def test_a_key_that_is_not_the_apps_is_refused_at_the_token(world: World, fake: GitHubFake) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    world.pem = other.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    with pytest.raises(errors.AccessDenied, match=r"token was refused.*JWT did not verify.*rekey-delivery/github-app"):
        world.destination().push(new_key(), None)
    assert world.puts() == []


def test_a_secret_that_is_no_pem_key_is_a_configuration_error(world: World) -> None:
    world.pem = "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n"
    with pytest.raises(errors.ConfigurationError, match="does not hold a PEM RSA private key") as caught:
        world.destination().push(new_key(), None)
    assert "not a key" not in str(caught.value) and caught.value.__cause__ is None


def test_a_clock_gone_wrong_is_refused_as_github_refuses_it(world: World) -> None:
    world.clock = Clock()  # rekey's own clock, 20 minutes ahead of GitHub's
    world.clock.advance(20 * 60)
    with pytest.raises(errors.AccessDenied, match="JWT did not verify"):
        world.destination().push(new_key(), None)


# --------------------------------------------------------------------------- never clobber


def test_someone_elses_secret_of_that_name_is_a_conflict_and_nothing_is_written(
    world: World, fake: GitHubFake, clock: Clock
) -> None:
    fake.set_secret("AWS_SECRET_ACCESS_KEY", "theirs", repository="acme/app")
    clock.advance(60)
    with pytest.raises(errors.Conflict) as caught:
        world.destination().push(new_key(), None)
    message = str(caught.value)
    assert "repository acme/app" in message and "AWS_SECRET_ACCESS_KEY" in message and "\n" not in message
    assert "rekey did not write" in message
    assert world.puts() == []  # not even the first secret, which did not exist
    assert fake.secret("AWS_ACCESS_KEY_ID", repository="acme/app") is None
    theirs = fake.secret("AWS_SECRET_ACCESS_KEY", repository="acme/app")
    assert theirs is not None and theirs.value == "theirs"


def test_a_secret_rekey_wrote_then_someone_changed_is_a_conflict(world: World, fake: GitHubFake, clock: Clock) -> None:
    record = world.destination().push(new_key(1), None)
    clock.advance(3600)
    fake.set_secret("aws_access_key_id", "AKIAHANDPASTED", repository="acme/app")
    clock.advance(60)
    with pytest.raises(errors.Conflict, match=r"repository acme/app: secret AWS_ACCESS_KEY_ID was changed by someone"):
        world.destination().push(new_key(2), record)
    got = fake.secret("AWS_ACCESS_KEY_ID", repository="acme/app")
    assert got is not None and got.value == "AKIAHANDPASTED"
    secret = fake.secret("AWS_SECRET_ACCESS_KEY", repository="acme/app")
    assert secret is not None and secret.value == new_key(1).secret_access_key
    assert len(world.puts()) == 2  # the first push's only


def test_each_rotation_overwrites_what_rekey_wrote_last(world: World, fake: GitHubFake, clock: Clock) -> None:
    record = None
    for n in range(1, 4):
        record = world.destination().push(new_key(n), record)
        clock.advance(86400 * 90)
    got = fake.secret("AWS_SECRET_ACCESS_KEY", repository="acme/app")
    assert got is not None and got.value == new_key(3).secret_access_key
    assert got.created_at == "2027-03-01T09:00:00Z" and got.updated_at != got.created_at


def test_a_record_of_another_place_accounts_for_nothing_here(world: World, fake: GitHubFake) -> None:
    record = world.destination().push(new_key(1), None)
    fake.set_secret("AWS_ACCESS_KEY_ID", "theirs", repository="acme/other")
    with pytest.raises(errors.Conflict, match="repository acme/other already has a secret AWS_ACCESS_KEY_ID"):
        world.destination(repository="acme/other").push(new_key(2), record)
    with pytest.raises(errors.Conflict):  # nor a record hand-edited, nor one of another kind
        world.destination().push(new_key(2), "ssm 3 2027-03-01")


def test_a_secret_deleted_since_is_created_again(world: World, fake: GitHubFake, clock: Clock) -> None:
    record = world.destination().push(new_key(1), None)
    del fake.scope(repository="acme/app").secrets["AWS_ACCESS_KEY_ID"]
    clock.advance(60)
    world.destination().push(new_key(2), record)
    got = fake.secret("AWS_ACCESS_KEY_ID", repository="acme/app")
    assert got is not None and got.value == new_key(2).key_id


def test_no_other_secret_is_read_touched_or_deleted(world: World, fake: GitHubFake) -> None:
    fake.set_secret("DEPLOY_TOKEN", "unrelated", repository="acme/app")
    world.destination().push(new_key(), None)
    assert not [c for c in world.http.calls if c[0] == "DELETE"]
    named = {url.rsplit("/", 1)[1] for _, url, _, _ in world.http.calls if "/actions/secrets/" in url}
    assert named == {"public-key", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    unrelated = fake.secret("DEPLOY_TOKEN", repository="acme/app")
    assert unrelated is not None and unrelated.value == "unrelated"


def test_a_failure_after_the_first_write_carries_the_record_to_retry_with(
    world: World, fake: GitHubFake, clock: Clock
) -> None:
    record = world.destination().push(new_key(1), None)
    clock.advance(86400)
    fake.fail(500, method="PUT", path=r"/AWS_SECRET_ACCESS_KEY$", times=3)
    with pytest.raises(errors.Unavailable, match="GitHub answered 500 to secret AWS_SECRET_ACCESS_KEY") as caught:
        world.destination().push(new_key(2), record)
    partial = caught.value.written  # type: ignore[attr-defined]
    assert RECORD.fullmatch(partial) and partial != record
    assert clock.slept == [1.0, 2.0]
    clock.advance(600)
    world.destination().push(new_key(2), partial)  # not a conflict: rekey's own first write
    got = fake.secret("AWS_SECRET_ACCESS_KEY", repository="acme/app")
    assert got is not None and got.value == new_key(2).secret_access_key
    with pytest.raises(errors.Conflict):  # the record before it no longer accounts for the first
        world.destination().push(new_key(3), record)


class Died(BaseException):
    """The process died (a Lambda timeout, an OOM kill): nothing of rekey's catches it."""


class Hook:
    """HTTP to the fake, with `action` run on the answer to the `nth` request `method` whose URL
    ends with `suffix` (it may return another answer, raise, or change the world first)."""

    def __init__(self, method: str, suffix: str, action: Callable[[HttpResponse], HttpResponse], nth: int = 1) -> None:
        self.inner, self.method, self.suffix, self.action, self.left = urllib_http(), method, suffix, action, nth

    def __call__(self, method: str, url: str, headers: Any, body: Any | None) -> HttpResponse:
        response = self.inner(method, url, headers, body)
        if method == self.method and url.endswith(self.suffix):
            self.left -= 1
            if self.left == 0:
                return self.action(response)
        return response


def die(_response: HttpResponse) -> HttpResponse:
    raise Died


def lose(_response: HttpResponse) -> HttpResponse:
    raise TimeoutError("the answer never came")


def held(fake: GitHubFake, key: NewKey) -> tuple[str | None, str | None]:
    access = fake.secret("AWS_ACCESS_KEY_ID", repository="acme/app")
    secret = fake.secret("AWS_SECRET_ACCESS_KEY", repository="acme/app")
    return (access.value if access else None, secret.value if secret else None)


@pytest.mark.parametrize(
    ("first", "suffix"),
    [
        (True, "/AWS_ACCESS_KEY_ID"),
        (True, "/AWS_SECRET_ACCESS_KEY"),
        (False, "/AWS_ACCESS_KEY_ID"),
        (False, "/AWS_SECRET_ACCESS_KEY"),
    ],
    ids=["first-push-first-secret", "first-push-second-secret", "later-push-first-secret", "later-push-second-secret"],
)
def test_a_push_that_died_right_after_github_applied_a_write_converges_at_the_next(
    world: World, fake: GitHubFake, clock: Clock, first: bool, suffix: str
) -> None:
    """Before the intent, the next push took rekey's own unrecorded write for someone else's:
    errors.Conflict at every push until a person deleted the secrets."""
    record = None if first else world.destination().push(new_key(1), None)
    clock.advance(86400 * 90)
    kept: list[str] = []  # what rekey keeps on the user's secret: the intent, before any write
    world.http = Recorder(Hook("PUT", suffix, die))
    with pytest.raises(Died):
        world.destination().push(new_key(2), record, kept.append)
    (intent,) = kept
    assert RECORD.fullmatch(intent) and len(intent) <= 160 and intent != record
    clock.advance(3600)  # the next scan, an hour later
    world.http = Recorder()
    settled = world.destination().push(new_key(2), intent, kept.append)
    assert held(fake, new_key(2)) == (new_key(2).key_id, new_key(2).secret_access_key)
    clock.advance(86400 * 90)  # and the record after it accounts for rekey's writes
    world.destination().push(new_key(3), settled)
    assert held(fake, new_key(3)) == (new_key(3).key_id, new_key(3).secret_access_key)


def test_a_write_whose_answer_never_came_is_rekeys_at_the_next_push(
    world: World, fake: GitHubFake, clock: Clock
) -> None:
    record = world.destination().push(new_key(1), None)
    clock.advance(86400)
    # Every attempt applied, every answer lost: GitHub holds the new key id; rekey does not know.
    world.http = Recorder(_Losing("PUT", "/AWS_ACCESS_KEY_ID"))
    with pytest.raises(errors.Unavailable, match="could not be reached") as caught:
        world.destination().push(new_key(2), record)
    assert held(fake, new_key(2))[0] == new_key(2).key_id
    partial = caught.value.written  # type: ignore[attr-defined]
    clock.advance(86400)
    world.http = Recorder()
    world.destination().push(new_key(2), partial)
    assert held(fake, new_key(2)) == (new_key(2).key_id, new_key(2).secret_access_key)


class _Losing:
    """Every answer to `method` on a URL ending with `suffix` is lost after GitHub applied it."""

    def __init__(self, method: str, suffix: str) -> None:
        self.inner, self.method, self.suffix = urllib_http(), method, suffix

    def __call__(self, method: str, url: str, headers: Any, body: Any | None) -> HttpResponse:
        response = self.inner(method, url, headers, body)
        if method == self.method and url.endswith(self.suffix):
            raise TimeoutError("the answer never came")
        return response


def test_an_intent_accounts_for_no_write_after_its_window(world: World, fake: GitHubFake, clock: Clock) -> None:
    record = world.destination().push(new_key(1), None)
    kept: list[str] = []

    def remember_then_die(intent: str) -> None:  # died after its intent was kept, before writing
        kept.append(intent)
        raise Died

    with pytest.raises(Died):
        world.destination().push(new_key(2), record, remember_then_die)
    (intent,) = kept
    clock.advance(INTENT_WINDOW.total_seconds() + 1)
    fake.set_secret("AWS_ACCESS_KEY_ID", "AKIATHEIRS", repository="acme/app")  # someone else, after the window
    clock.advance(3600)
    world.http = Recorder()
    with pytest.raises(errors.Conflict, match="changed by someone else"):
        world.destination().push(new_key(2), intent)
    assert held(fake, new_key(2))[0] == "AKIATHEIRS"
    assert world.puts() == []


def test_someone_elses_write_right_after_rekeys_is_not_taken_for_rekeys(
    world: World, fake: GitHubFake, clock: Clock
) -> None:
    """Before, the stamp read back after rekey's write was recorded as rekey's whatever it was:
    a write by someone else between rekey's PUT and its read-back was overwritten next time."""
    record = world.destination().push(new_key(1), None)
    clock.advance(86400)

    def theirs(response: HttpResponse) -> HttpResponse:
        clock.advance(2)  # GitHub's clock moved on past rekey's PUT; then someone else writes
        fake.set_secret("AWS_ACCESS_KEY_ID", "AKIATHEIRS", repository="acme/app")
        return response

    world.http = Recorder(Hook("PUT", "/AWS_ACCESS_KEY_ID", theirs))
    kept: list[str] = []
    with pytest.raises(
        errors.Conflict, match="AWS_ACCESS_KEY_ID was written by someone else right after rekey"
    ) as caught:
        world.destination().push(new_key(2), record, kept.append)
    assert [c for c in world.puts() if c.endswith("AWS_SECRET_ACCESS_KEY")] == []  # nothing more written
    partial = caught.value.written  # type: ignore[attr-defined]
    clock.advance(86400)
    world.http = Recorder()
    assert partial != kept[0] and "w" not in partial.split()[-1]  # it replaces the intent, and ends it
    with pytest.raises(errors.Conflict, match="changed by someone else"):
        world.destination().push(new_key(3), partial)
    assert held(fake, new_key(3))[0] == "AKIATHEIRS"


def test_a_push_writes_nothing_longer_after_its_check_than_its_window(
    world: World, fake: GitHubFake, clock: Clock
) -> None:
    record = world.destination().push(new_key(1), None)
    fake.fail(429, method="PUT", times=1, headers={"retry-after": str(int(PUT_WINDOW.total_seconds()) + 1)})
    with pytest.raises(errors.Unavailable, match="not sent: more than 20 s after rekey checked") as caught:
        world.destination().push(new_key(2), record)
    assert len(world.puts()) == 3  # the first push's two, and the refused attempt
    assert held(fake, new_key(1)) == (new_key(1).key_id, new_key(1).secret_access_key)
    world.destination().push(new_key(2), caught.value.written)  # type: ignore[attr-defined]
    assert held(fake, new_key(2)) == (new_key(2).key_id, new_key(2).secret_access_key)


def test_the_public_key_is_read_at_each_push(world: World, fake: GitHubFake, clock: Clock) -> None:
    record = world.destination().push(new_key(1), None)
    fake.rotate_public_key(repository="acme/app")
    clock.advance(60)
    world.destination().push(new_key(2), record)
    got = fake.secret("AWS_SECRET_ACCESS_KEY", repository="acme/app")
    assert got is not None and got.value == new_key(2).secret_access_key


# --------------------------------------------------------------------------- GitHub's refusals


def test_missing_permissions_name_what_the_app_lacks(world: World, fake: GitHubFake) -> None:
    narrow = fake.add_installation("acme", permissions={"metadata": "read", "secrets": "read"})
    with pytest.raises(errors.AccessDenied, match=r"\(403\).*lacks Secrets \(repository permission"):
        world.destination(installation_id=str(narrow)).push(new_key(), None)
    with pytest.raises(errors.AccessDenied, match="lacks Environments"):
        world.destination(installation_id=str(narrow), environment="production").push(new_key(), None)
    with pytest.raises(errors.AccessDenied, match=r"lacks Secrets \(organization permission"):
        world.destination(installation_id=str(narrow), organization="acme").push(new_key(), None)
    assert world.puts() and all("AWS_ACCESS_KEY_ID" in url for url in world.puts())  # the first try's 403
    assert fake.secret("AWS_ACCESS_KEY_ID", repository="acme/app") is None


@pytest.mark.parametrize(
    ("options", "kind", "match"),
    [
        ({"repository": "acme/missing"}, errors.NotFound, "repository acme/missing does not exist or is not visible"),
        ({"repository": "umbrella/app"}, errors.NotFound, "repository umbrella/app does not exist or is not visible"),
        ({"environment": "staging"}, errors.NotFound, "environment staging of repository acme/app does not exist"),
        ({"organization": "umbrella"}, errors.NotFound, "organization umbrella does not exist"),
        ({"installation_id": "99"}, errors.NotFound, "installation 99 of App .* not found"),
    ],
)
def test_what_the_app_cannot_see_is_not_found(
    world: World, fake: GitHubFake, options: dict[str, str], kind: type[errors.RekeyError], match: str
) -> None:
    fake.add_repository("umbrella/app")
    with pytest.raises(kind, match=match):
        world.destination(**options).push(new_key(), None)
    assert world.puts() == []


def test_a_repository_outside_the_installations_selection_is_not_found(world: World, fake: GitHubFake) -> None:
    selected = fake.add_installation("acme", repositories=["acme/other"])
    with pytest.raises(errors.NotFound, match="not visible to the GitHub App"):
        world.destination(installation_id=str(selected)).push(new_key(), None)


def test_a_suspended_installation_is_access_denied(world: World, fake: GitHubFake) -> None:
    fake.installations[world.installation].suspended = True
    with pytest.raises(errors.AccessDenied, match="suspended"):
        world.destination().push(new_key(), None)


@pytest.mark.parametrize(
    ("status", "method", "kind", "match"),
    [
        (422, "PUT", errors.InvalidRequest, r"refused secret AWS_ACCESS_KEY_ID of repository acme/app as invalid"),
        (404, "GET", errors.NotFound, "public key of repository acme/app not found"),
        (403, "PUT", errors.AccessDenied, r"lacks Secrets"),
        (401, "GET", errors.AccessDenied, "the GitHub App's token was refused"),
        (301, "GET", errors.NotFound, "moved"),
        (418, "PUT", errors.InvalidRequest, "GitHub answered 418"),
    ],
)
def test_each_refusal_is_rekeys_error(
    world: World, fake: GitHubFake, status: int, method: str, kind: type[errors.RekeyError], match: str
) -> None:
    path = r"/public-key$" if method == "GET" else r"/AWS_ACCESS_KEY_ID$"
    fake.fail(status, method=method, path=path, times=5, message="Validation Failed: AKIA... echoed")
    with pytest.raises(kind, match=match) as caught:
        world.destination().push(new_key(), None)
    assert "echoed" not in str(caught.value)  # never a response body
    assert fake.secret("AWS_SECRET_ACCESS_KEY", repository="acme/app") is None


def test_server_errors_are_retried_then_unavailable(world: World, fake: GitHubFake, clock: Clock) -> None:
    fake.fail(502, method="GET", path=r"/public-key$", times=2)
    world.destination().push(new_key(), None)  # the third attempt answers
    assert clock.slept == [1.0, 2.0]
    fake.fail(503, method="GET", path=r"/public-key$", times=3)
    with pytest.raises(errors.Unavailable, match="GitHub answered 503 to the secrets' public key"):
        world.destination().push(new_key(2), None)


def test_github_out_of_reach_is_unavailable(world: World, fake: GitHubFake, clock: Clock) -> None:
    fake.stop()  # nobody listens at its URL any more
    with pytest.raises(
        errors.Unavailable,
        match=r"could not be reached for an installation token \(App \d+, installation \d+\) \(URLError\)",
    ):
        world.destination().push(new_key(), None)
    assert clock.slept == [1.0, 2.0]


def test_a_redirect_is_not_followed(world: World, fake: GitHubFake) -> None:
    fake.fail(307, path="/public-key$", headers={"location": "https://elsewhere.example/steal"})
    with pytest.raises(errors.NotFound, match="moved"):
        world.destination().push(new_key(), None)
    assert not [c for c in world.http.calls if "elsewhere" in c[1]]


# --------------------------------------------------------------------------- rate limits


def test_the_primary_rate_limit_is_waited_out_until_its_reset(world: World, fake: GitHubFake, clock: Clock) -> None:
    fake.rate_limit(3, window=timedelta(seconds=20))
    key = new_key()
    world.destination().push(key, None)  # 8 requests: two waits for a new window
    assert len(clock.slept) == 2 and all(1 <= s <= 20 for s in clock.slept)
    got = fake.secret("AWS_SECRET_ACCESS_KEY", repository="acme/app")
    assert got is not None and got.value == key.secret_access_key


def test_a_secondary_rate_limit_waits_for_retry_after(world: World, fake: GitHubFake, clock: Clock) -> None:
    fake.secondary_rate_limit(after=2, retry_after=7, status=429)
    record = world.destination().push(new_key(1), None)
    assert clock.slept == [7.0]
    fake.secondary_rate_limit(after=0, retry_after=5, status=403)
    world.destination().push(new_key(2), record)
    assert clock.slept == [7.0, 5.0]
    got = fake.secret("AWS_ACCESS_KEY_ID", repository="acme/app")
    assert got is not None and got.value == new_key(2).key_id


def test_a_rate_limit_asking_too_long_a_wait_is_throttled_at_once(world: World, fake: GitHubFake, clock: Clock) -> None:
    fake.rate_limit(1, window=timedelta(hours=1))
    with pytest.raises(errors.Throttled, match=r"rate-limited .* \(403; it asks to wait 3600 s\)"):
        world.destination().push(new_key(), None)
    assert clock.slept == []
    fake.rate_limit(5000)
    fake.secondary_rate_limit(after=0, retry_after=None, status=403)  # no header: at least a minute
    with pytest.raises(errors.Throttled, match="it asks to wait 60 s"):
        world.destination().push(new_key(), None)
    assert clock.slept == [] and world.puts() == []


def test_a_rate_limit_that_persists_is_throttled_after_bounded_retries(
    world: World, fake: GitHubFake, clock: Clock
) -> None:
    fake.fail(429, path="/public-key$", times=10, headers={"retry-after": "4"})
    with pytest.raises(errors.Throttled, match=r"\(429; it asks to wait 4 s\)"):
        world.destination().push(new_key(), None)
    assert clock.slept == [4.0, 4.0]


# --------------------------------------------------------------------------- no secret anywhere


def test_no_secret_private_key_or_token_in_any_message_or_log_line(
    world: World, fake: GitHubFake, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    key = new_key(7)
    seen: list[str] = []

    def attempt(**options: Any) -> None:
        destination = world.destination(**options)
        seen.append(repr(destination))
        try:
            seen.append(destination.push(key, None))
        except errors.RekeyError as exc:
            seen.extend([str(exc), repr(exc), str(getattr(exc, "written", ""))])

    attempt()  # written
    attempt()  # conflict
    fake.fail(422, method="PUT", times=1)
    attempt(environment="production")
    fake.fail(401, times=2)
    attempt(organization="acme")
    fake.fail(500, times=3)
    attempt(organization="acme")
    fake.secondary_rate_limit(after=0, retry_after=3)
    attempt(organization="acme")
    world.pem = world.pem.replace("M", "N", 3)
    world.tokens = TokenCache()
    attempt(repository="acme/other")

    jwts = [h["Authorization"].split()[1] for _, _, h, _ in world.http.calls if "Authorization" in h]
    secrets = [key.secret_access_key, *fake.issued_tokens, *jwts]
    pem_lines = [line for line in fake.private_key_pem.splitlines() if "PRIVATE KEY" not in line]
    text = "\n".join([*seen, *(r.getMessage() for r in caplog.records), caplog.text])
    assert len(fake.issued_tokens) >= 2 and jwts
    for secret in secrets:
        assert secret not in text
    for line in pem_lines:
        assert line not in text
    assert "PRIVATE KEY" not in text
    assert fake.secret("AWS_SECRET_ACCESS_KEY", repository="acme/app") is not None


# --------------------------------------------------------------------------- the fake itself


def test_the_fake_lists_secrets_in_githubs_shape_with_pages(world: World, fake: GitHubFake) -> None:
    for n in range(5):
        fake.set_secret(f"S{n}", "x", repository="acme/app")
    world.destination(repository="acme/other").push(new_key(), None)
    (token,) = fake.issued_tokens  # a real token of the installation
    http = urllib_http()
    headers = {"Authorization": f"Bearer {token}", "User-Agent": "t", "X-GitHub-Api-Version": "2022-11-28"}
    first = http("GET", f"{fake.url}/repos/acme/app/actions/secrets?per_page=2", headers, None)
    assert first.status == 200 and first.body["total_count"] == 5
    assert [s["name"] for s in first.body["secrets"]] == ["S0", "S1"]
    assert set(first.body["secrets"][0]) == {"name", "created_at", "updated_at"}
    assert 'rel="next"' in first.headers["link"] and "page=3" in first.headers["link"]
    assert first.headers["x-ratelimit-resource"] == "core" and first.headers["x-ratelimit-remaining"].isdigit()
    last = http("GET", f"{fake.url}/repos/acme/app/actions/secrets?per_page=2&page=3", headers, None)
    assert [s["name"] for s in last.body["secrets"]] == ["S4"] and "link" not in last.headers
    assert (
        http("GET", f"{fake.url}/repos/acme/app/actions/secrets/S0", {**headers, "User-Agent": ""}, None).status == 403
    )
    bad_version = http(
        "GET", f"{fake.url}/repos/acme/app/actions/secrets", {**headers, "X-GitHub-Api-Version": "1"}, None
    )
    assert bad_version.status == 400
    stale = http(
        "PUT", f"{fake.url}/repos/acme/app/actions/secrets/X", headers, {"encrypted_value": "AAAA", "key_id": "1"}
    )
    assert stale.status == 422 and stale.body["status"] == "422" and "documentation_url" in stale.body
    jwt_elsewhere = http(
        "GET", f"{fake.url}/repos/acme/app/actions/secrets", {**headers, "Authorization": "Bearer a.b.c"}, None
    )
    assert jwt_elsewhere.status == 401 and jwt_elsewhere.body["message"] == "Bad credentials"
