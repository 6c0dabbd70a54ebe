"""`rekey demo`: an organization's whole key lifecycle on the embedded emulator, in a minute.

Builds an organization on moto (hub, member accounts, the spoke role deployed from
spoke_templates/ by CloudFormation, the hub's queues and topic as hub/template.yaml defines
them), fills it with users that show every case rekey handles, then plays simulated days:
keys age by a day, applications use their keys, and exactly what production runs each day
runs here — the sweep, then the worker fed by a stand-in for Lambda's SQS event source.
Everything shown comes from notifications received on an SQS subscription to the topic."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from rekey_cli.advice import AdviceRun
from rekey_cli.compliance import DeliveryLine
from rekey_cli.render_advice import advice_json
from rekey_cli.sqs_source import drain

from rekey.domain.delivery import DELIVER_TAG
from rekey.domain.entities import Account
from rekey.domain.models import SecretState
from rekey.domain.naming import secret_name
from rekey.handlers import worker
from rekey.runtime import Runtime
from rekey.settings import Settings
from rekey.use_cases.sweep import new_sweep_id, sweep
from rekey.use_cases.work import WorkOutcome

from . import advisor_cast
from . import emulator as em
from .demo_cast import (
    ACCOUNT_NAMES,
    COMPONENTS,
    DELIVERED_USER,
    GITHUB_REPOSITORY,
    OWNER_TEAM,
    Plan,
    PlannedUser,
    Usage,
    make_plan,
)
from .demo_render import DemoEvent, KeyView, Painter, Progress, Timeline, UserView, counts, table, wants_colour
from .github_fake import GitHubFake
from .rotation import RELAY_NAME

DEFAULT_DAYS = 120
DEFAULT_ACCOUNTS = 3
DEFAULT_USERS_PER_ACCOUNT = 3
DEFAULT_SEED = 1
APP_KEY_SECRET = "rekey-delivery/github-app"  # the GitHub App's private key, in the hub's Secrets Manager
INBOX = "demo-inbox"  # every notification, as an operator's subscription would receive them
OWNER_INBOX = f"{OWNER_TEAM}-inbox"  # only the notifications of users tagged rekey:owner=data-team

EXIT_OK, EXIT_FAILED = 0, 1


@dataclass(frozen=True)
class Options:
    days: int = DEFAULT_DAYS
    accounts: int = DEFAULT_ACCOUNTS
    users_per_account: int = DEFAULT_USERS_PER_ACCOUNT
    seed: int = DEFAULT_SEED
    as_json: bool = False


def add_parser(sub: Any) -> None:
    """`rekey demo`, added to the CLI through the entry point group `rekey.commands`."""
    parser = sub.add_parser(
        "demo",
        help="watch an organization's key lifecycle on an embedded emulator",
        description="Start AWS's emulator (moto) in this process, build an organization with member accounts "
        "and users showing every case, and run the daily sweep and worker over simulated days. "
        "Needs no AWS account and no configuration; REKEY_* variables are ignored.",
        epilog="examples:\n  rekey demo\n  rekey demo --days 200 --accounts 6 --seed 42\n"
        "  rekey demo --json | jq '.events[] | select(.event == \"in-use\")'",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `rekey demo` options (the CLI owns the parser, this module the meaning)."""
    parser.add_argument(
        "--days", type=_int_between(0, 3650), default=DEFAULT_DAYS, metavar="N", help="days to simulate (%(default)s)"
    )
    parser.add_argument(
        "--accounts",
        type=_int_between(1, len(ACCOUNT_NAMES)),
        default=DEFAULT_ACCOUNTS,
        metavar="N",
        help=f"member accounts, 1-{len(ACCOUNT_NAMES)} (%(default)s)",
    )
    parser.add_argument(
        "--users-per-account",
        type=_int_between(0, len(COMPONENTS)),
        default=DEFAULT_USERS_PER_ACCOUNT,
        metavar="N",
        help="ordinary tagged service users per account, besides the users that show the special cases (%(default)s)",
    )
    parser.add_argument(
        "--seed", type=int, default=DEFAULT_SEED, metavar="N", help="same seed, same story (%(default)s)"
    )
    parser.add_argument("--json", action="store_true", help="one JSON document: organization, events, final state")


def _int_between(low: int, high: int) -> Any:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}")
        return value

    return parse


def main(args: argparse.Namespace) -> int:
    options = Options(args.days, args.accounts, args.users_per_account, args.seed, args.json)
    return run(options)


# --------------------------------------------------------------------------- the organization


@dataclass
class Org:
    emulator: em.Emulator
    plan: Plan
    organization_id: str
    management_id: str
    account_ids: dict[str, str]  # account name -> id
    hub: em.HubResources
    inbox_url: str
    owner_inbox_url: str
    github: GitHubFake
    original_keys: dict[tuple[str, str], str] = field(default_factory=dict)  # (account, user) -> key id
    _clients: dict[tuple[str, str], Any] = field(default_factory=dict)

    def client(self, service: str, account_id: str) -> Any:
        """A client acting inside a member account (as OrganizationAccountAccessRole), reused."""
        if (service, account_id) not in self._clients:
            self._clients[(service, account_id)] = self.emulator.account_client(service, account_id)
        return self._clients[(service, account_id)]

    @property
    def member_ids(self) -> list[str]:
        return [self.account_ids[name] for name in self.plan.accounts]

    def account_name(self, account_id: str) -> str:
        for name, known in self.account_ids.items():
            if known == account_id:
                return name
        return "hub" if account_id == self.management_id else account_id


def build_org(emulator: em.Emulator, plan: Plan, rotation_url: str, github: GitHubFake) -> Org:
    """Organization, member accounts with the spoke stack (CloudFormation, from spoke_templates/:
    the roles, and the relay Secrets Manager's rotation invokes, posting to `rotation_url`), hub
    queues and topic, two subscriptions, and the planned users with their aged keys; `github`
    has the App installed on the delivered user's repository, whose key the hub keeps."""
    from .templates import deploy_spoke_role

    organization = em.create_organization(emulator, plan.accounts)
    hub = em.create_hub(emulator)
    for account_id in organization.accounts.values():
        deploy_spoke_role(
            emulator,
            account_id,
            hub_account_id=em.MANAGEMENT_ACCOUNT,
            organization_id=organization.organization_id,
            HubRotationUrl=rotation_url,
        )
    owner, _, _ = GITHUB_REPOSITORY.partition("/")
    github.add_installation(owner, repositories=[GITHUB_REPOSITORY])
    github.add_repository(GITHUB_REPOSITORY)
    emulator.client("secretsmanager").create_secret(Name=APP_KEY_SECRET, SecretString=github.private_key_pem)
    inbox_url = em.subscribe_queue(emulator, hub.topic_arn, INBOX)
    owner_inbox_url = em.subscribe_queue(emulator, hub.topic_arn, OWNER_INBOX, {"owner": [OWNER_TEAM]})
    org = Org(
        emulator,
        plan,
        organization.organization_id,
        em.MANAGEMENT_ACCOUNT,
        organization.accounts,
        hub,
        inbox_url,
        owner_inbox_url,
        github,
    )
    for user in plan.users:
        _create_user(org, user)
    return org


def _create_user(org: Org, user: PlannedUser) -> None:
    account_id = org.account_ids[user.account]
    iam = org.client("iam", account_id)
    iam.create_user(UserName=user.name, Tags=[{"Key": k, "Value": v} for k, v in user.tags.items()])
    for i, age in enumerate(user.key_ages):
        # Only the id is kept: the secret half of this response is never stored or shown.
        key_id = iam.create_access_key(UserName=user.name)["AccessKey"]["AccessKeyId"]
        _backdate(account_id, key_id, age)
        if i == 0:
            org.original_keys[(user.account, user.name)] = key_id


def _backdate(account_id: str, key_id: str, days: int) -> None:
    """Make one key `days` old (moto's in-process backend; production reads the real clock)."""
    from moto.iam.models import iam_backends

    iam_backends[account_id]["global"].access_keys[key_id].create_date -= timedelta(days=days)


def _backend_keys(account_id: str) -> list[Any]:
    from moto.iam.models import iam_backends

    return list(iam_backends[account_id]["global"].access_keys.values())


def use_keys(org: Org) -> None:
    """Each application signs requests for the day with the key it knows."""
    for user in org.plan.users:
        account_id = org.account_ids[user.account]
        keys = [k for k in _backend_keys(account_id) if k.user_name == user.name and k.status == "Active"]
        if user.usage is Usage.NEWEST and keys:
            newest = max(keys, key=lambda k: k.create_date)
            org.emulator.use_key(account_id, newest.access_key_id)
        elif user.usage is Usage.ORIGINAL:
            original = org.original_keys[(user.account, user.name)]
            if any(k.access_key_id == original for k in keys):
                org.emulator.use_key(account_id, original, service="s3")
        elif user.usage is Usage.GITHUB:
            # The CI job reads its key from the repository's secret (what GitHub decrypted).
            pushed = org.github.secret("AWS_ACCESS_KEY_ID", repository=GITHUB_REPOSITORY)
            key_id = pushed.value if pushed is not None else org.original_keys[(user.account, user.name)]
            if any(k.access_key_id == key_id for k in keys):
                org.emulator.use_key(account_id, key_id, service="s3")


# --------------------------------------------------------------------------- secrets: checked, never shown


class SecretWatch:
    """Every secret access key that existed during the run, read from the emulator's backend,
    so the output can be searched for them. Held in memory only; never printed."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()

    def snapshot(self, account_ids: Iterable[str]) -> None:
        for account_id in account_ids:
            self.add(key.secret_access_key for key in _backend_keys(account_id))
            self.add(_stored_secret_keys(account_id))

    def add(self, secrets: Iterable[str]) -> None:
        self._secrets.update(s for s in secrets if s)

    def __len__(self) -> int:
        return len(self._secrets)

    def leaks(self, texts: Iterable[str]) -> int:
        """How many of the secrets appear in any of `texts`."""
        found: set[str] = set()
        for text in texts:
            found.update(s for s in self._secrets if s in text)
        return len(found)


def _stored_secret_keys(account_id: str) -> Iterator[str]:
    from moto.secretsmanager.models import secretsmanager_backends

    backend = secretsmanager_backends[account_id][em.REGION]
    for secret in backend.secrets.values():
        for version in getattr(secret, "versions", {}).values():
            try:
                value = json.loads(version.get("secret_string") or "{}")
            except ValueError:
                continue
            if isinstance(value, dict) and isinstance(value.get("SecretKey"), str):
                yield value["SecretKey"]


class Recorder:
    """A text stream that passes everything through and keeps a copy, to be searched."""

    def __init__(self, target: TextIO) -> None:
        self.target = target
        self.chunks: list[str] = []

    def write(self, text: str) -> int:
        self.chunks.append(text)
        return self.target.write(text)

    def flush(self) -> None:
        self.target.flush()

    def isatty(self) -> bool:
        try:
            return self.target.isatty()
        except (AttributeError, ValueError):
            return False

    @property
    def encoding(self) -> str:
        return getattr(self.target, "encoding", "utf-8") or "utf-8"

    def text(self) -> str:
        return "".join(self.chunks)


@contextmanager
def recording() -> Iterator[tuple[Recorder, Recorder]]:
    """Record sys.stdout and sys.stderr, including the log handlers writing to stderr."""
    import logging

    out, err = Recorder(sys.stdout), Recorder(sys.stderr)
    handlers = [
        h
        for name in ("rekey", "aws_lambda_powertools", "")
        for h in logging.getLogger(name).handlers
        if isinstance(h, logging.StreamHandler) and h.stream in (sys.stderr, sys.stdout)
    ]
    previous = [(h, h.stream) for h in handlers]
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err  # type: ignore[assignment]
    for h, stream in previous:
        h.setStream(out if stream is saved[0] else err)  # type: ignore[arg-type]
    try:
        yield out, err
    finally:
        sys.stdout, sys.stderr = saved
        for h, stream in previous:
            h.setStream(stream)


# --------------------------------------------------------------------------- the run


@dataclass
class DayResult:
    day: int
    events: list[DemoEvent]
    work_items: int
    failed_items: int


class Simulation:
    def __init__(self, org: Org, rt: Runtime) -> None:
        self.org = org
        self.rt = rt
        self.received: list[dict[str, Any]] = []  # every notification body, for the secret check
        self.owner_inbox: Counter[str] = Counter()
        self.owner_inbox_users: set[str] = set()
        self._sqs = org.emulator.client("sqs")

    def day(self, day: int) -> DayResult:
        """One production day: the sweep, then the worker draining the work queue."""
        if day:
            for account_id in self.org.member_ids:
                self.org.emulator.age_keys(account_id, 1)
        use_keys(self.org)
        sweep(self.rt, f"{new_sweep_id(self.rt.now())}-day{day:03d}")
        outcomes: list[WorkOutcome] = []

        def handler(event: dict[str, Any]) -> dict[str, Any]:
            return worker.process(event, self.rt, outcomes=outcomes)

        drained = drain(self.rt.clients.hub("sqs"), self.rt.settings.work_queue_url, handler)
        events = [self._event(day, body) for body in self._receive(self.org.inbox_url)]
        return DayResult(day, events, drained.received, drained.failed)

    def read_owner_inbox(self) -> None:
        """What the team's filtered subscription received (read once, at the end)."""
        for body in self._receive(self.org.owner_inbox_url):
            self.owner_inbox[body["event"]] += 1
            self.owner_inbox_users.add(body.get("user_name") or "-")

    def _receive(self, queue_url: str) -> list[dict[str, Any]]:
        sqs = self._sqs
        bodies: list[dict[str, Any]] = []
        while True:
            batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
            bodies.extend(json.loads(m["Body"]) for m in batch)
            if batch:
                sqs.delete_message_batch(
                    QueueUrl=queue_url,
                    Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)],
                )
            # The emulator returns every visible message up to 10: a short batch was the last.
            if len(batch) < 10:
                self.received.extend(bodies)
                return bodies

    def _event(self, day: int, body: dict[str, Any]) -> DemoEvent:
        return DemoEvent(
            day=day,
            account=self.org.account_name(body["account_id"]),
            account_id=body["account_id"],
            user=body.get("user_name"),
            event=body["event"],
            severity=body["severity"],
            owner=body.get("owner"),
            key_id=body.get("key_id"),
            new_key_id=body.get("new_key_id"),
            secret_name=body.get("secret_name"),
            message=body["message"],
        )


def order_events(events: list[DemoEvent], accounts: tuple[str, ...]) -> list[DemoEvent]:
    """A day's events by account, then user; a user's own events keep the order they happened
    in (one user's work items run one at a time, in order)."""
    rank = {name: i for i, name in enumerate(accounts)}
    return sorted(events, key=lambda e: (rank.get(e.account, len(rank)), e.user or ""))


def final_state(org: Org, events: list[DemoEvent]) -> list[UserView]:
    now = datetime.now(UTC)
    per_user: dict[tuple[str, str | None], Counter[str]] = {}
    for e in events:
        per_user.setdefault((e.account, e.user), Counter())[e.event] += 1
    views = []
    for user in org.plan.users:
        account_id = org.account_ids[user.account]
        iam = org.client("iam", account_id)
        meta = iam.list_access_keys(UserName=user.name)["AccessKeyMetadata"]
        keys = [
            KeyView(m["AccessKeyId"], m["Status"], max(0, (now - m["CreateDate"].astimezone(UTC)).days))
            for m in sorted(meta, key=lambda m: m["CreateDate"])
        ]
        name, state = _secret(org, account_id, user.name)
        views.append(
            UserView(
                user.account,
                account_id,
                user.name,
                user.case.value,
                keys,
                name,
                state.current_key_id if state else None,
                per_user.get((user.account, user.name), Counter()),
                user.tagged,
                _deliveries(org, account_id, user, state),
            )
        )
    return views


def _deliveries(org: Org, account_id: str, user: PlannedUser, state: SecretState | None) -> tuple[str, ...]:
    """Each destination the user selects, and whether it holds the current key, as `rekey
    report` says it (from the secret's tags)."""
    names = [n.strip() for n in user.tags.get(DELIVER_TAG, "").split(",") if n.strip()]
    sent = state.delivered() if state else {}
    account = Account(account_id, user.account)
    current = state.current_key_id if state else None
    return tuple(f"{n}: {DeliveryLine(account, user.name, n, current, sent.get(n)).state}" for n in names)


def _secret(org: Org, account_id: str, user_name: str) -> tuple[str | None, SecretState | None]:
    """The user's secret name and what its labels and tags say (the key id of its AWSCURRENT
    version, from its version id or label, which name the key; its deliveries): no secret value
    is read."""
    from rekey.adapters.secrets import SecretsAdapter

    name = secret_name(Settings.model_fields["secret_name"].default, user_name, account_id)
    record = SecretsAdapter(org.client("secretsmanager", account_id)).read(name, resolve_foreign=False)
    return (name, record.state) if record.state.exists else (None, None)


def demo_environment(org: Org) -> dict[str, str]:
    """The demo's own configuration: the defaults, whatever REKEY_* the caller's shell has, with
    Secrets Manager's rotation through the relay, as the hub stack and the StackSet deploy it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REKEY_")}
    env.update(org.hub.environment())
    env["AWS_REGION"] = em.REGION
    env["REKEY_EXCLUDED_ACCOUNTS"] = org.management_id  # the hub's account has no spoke role
    env["REKEY_ORGANIZATION_ID"] = org.organization_id  # as the hub stack sets it
    env["REKEY_ROTATION_RELAY"] = RELAY_NAME
    env["REKEY_DESTINATIONS"] = json.dumps(destinations(org))
    return env


def destinations(org: Org) -> dict[str, Any]:
    """What the demo's hub declares: the delivered user's SSM parameter and the GitHub repository
    its CI reads, each approved for that user in its own account only."""
    (user,) = [u for u in org.plan.users if u.name == DELIVERED_USER]
    allow = {"accounts": [org.account_ids[user.account]], "users": [DELIVERED_USER]}
    return {
        "params": {"kind": "ssm-parameter", "name": "/rekey/{user_name}/aws", "allow": allow},
        "ci": {
            "kind": "github-actions",
            "app_id": str(org.github.app_id),
            "installation_id": str(min(org.github.installations)),
            "private_key_secret": APP_KEY_SECRET,
            "repository": GITHUB_REPOSITORY,
            "api_url": org.github.url,  # the local fake (an http:// URL is accepted on loopback only)
            "allow": allow,
        },
    }


def demo_settings(org: Org) -> Settings:
    return Settings.from_env(demo_environment(org))


def run(options: Options, emulator: em.Emulator | None = None) -> int:
    """Run the demo on `emulator` or on a moto server of its own (then stopped, and the
    environment restored). moto's state is per process: it is reset first either way."""
    saved_env = dict(os.environ)
    own = emulator is None
    if own:
        _isolate_from_real_aws()
    emulator = emulator or em.start()
    try:
        emulator.reset()
        with recording() as (out, err), GitHubFake() as github:
            return _run(options, emulator, github, out, err)
    finally:
        if own:
            emulator.stop()
            os.environ.clear()
            os.environ.update(saved_env)


def _days(n: int) -> str:
    return f"{n} day" if n == 1 else f"{n} days"


def _isolate_from_real_aws() -> None:
    """Nothing from the caller's AWS setup may send a demo call elsewhere: no profile, no
    config files (they can name endpoints), no per-service endpoint, the emulator's region."""
    for name in list(os.environ):
        if name.startswith("AWS_ENDPOINT_URL_") or name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_REGION"):
            del os.environ[name]
    os.environ["AWS_CONFIG_FILE"] = os.devnull
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull


def _run(options: Options, emulator: em.Emulator, github: GitHubFake, out: Recorder, err: Recorder) -> int:
    started = time.monotonic()
    plan = make_plan(options.seed, options.accounts, options.users_per_account)
    paint = Painter(wants_colour(out) and not options.as_json)
    progress = Progress(err, options.days)
    progress.start(f"rekey demo: building the organization, then simulating {_days(options.days)}")
    # The hub's rotation function, configured as the demo's hub (the relays post each step to it).
    configured: dict[str, str] = {}
    rotation_url = emulator.serve_function_url(em.rotation_endpoint(environment=lambda: configured).function)
    org = build_org(emulator, plan, rotation_url, github)
    configured.update(demo_environment(org))
    settings = demo_settings(org)
    rt = Runtime.build(settings)
    rt.sleep = lambda _seconds: None  # the emulator accepts a new key at once
    simulation = Simulation(org, rt)
    watch = SecretWatch()
    # The GitHub App's private key is secret material too: each line of its PEM body.
    pem = [line for line in github.private_key_pem.splitlines() if not line.startswith("-----")]
    watch.add(pem)
    width = shutil.get_terminal_size().columns if out.isatty() and not options.as_json else None
    timeline = Timeline(list(plan.accounts), [u.name for u in plan.users], paint, width)

    def say(lines: Iterable[str]) -> None:
        lines = list(lines)
        if lines and not options.as_json:
            progress.clear()
            out.write("\n".join(lines) + "\n")
            out.flush()

    say(_introduction(org, options, settings, paint))
    events: list[DemoEvent] = []
    failed = 0
    for day in range(options.days + 1):
        progress.update(day)
        result = simulation.day(day)
        watch.snapshot(org.member_ids)
        todays = order_events(result.events, plan.accounts)
        events.extend(todays)
        failed += result.failed_items
        say(timeline.day(day, todays))
    simulation.read_owner_inbox()
    elapsed = time.monotonic() - started
    progress.finish(f"rekey demo: simulated {_days(options.days)} in {elapsed:.1f} s")
    views = final_state(org, events)
    by_type = Counter(e.event for e in events)
    # The advisor's scene, after the days: four more users, each key used one way, and `rekey advise`.
    advisor_cast.seed(emulator, org)
    watch.snapshot(org.member_ids)
    advice = advisor_cast.advise(rt)

    if options.as_json:
        document = _json_document(org, options, settings, events, views, by_type, simulation, elapsed)
        document["advice"] = advice_json(advice)
        text = json.dumps(document, indent=2)
        leaks = watch.leaks([out.text(), err.text(), text, *map(json.dumps, simulation.received)])
        document["secret_check"] = {
            "secret_access_keys_checked": len(watch) - len(pem),
            "github_app_key_lines_checked": len(pem),
            "notifications_checked": len(simulation.received),
            "leaked": leaks,
        }
        out.write(json.dumps(document, indent=2) + "\n")
    else:
        say(["", paint.bold(f"Where things stand on day {options.days}"), ""])
        say(table(views, org.account_ids, paint))
        say(_closing(options, simulation, by_type, paint))
        say(_secrets_manager_line(org))
        say(_advice_lines(advice, paint))
        leaks = watch.leaks([out.text(), err.text(), *map(json.dumps, simulation.received)])
        written = len(out.text()) + len(err.text())
        say(["", _secret_line(leaks, len(watch) - len(pem), len(simulation.received), written)])
        say([paint.dim(f"Simulated {_days(options.days)} in {elapsed:.1f} s (seed {options.seed}).")])
    return EXIT_FAILED if leaks or failed else EXIT_OK


def _advice_lines(advice: AdviceRun, paint: Painter) -> list[str]:
    """What `rekey advise` said of the advisor scene's keys, with the evidence, and in all."""
    scene = {s.user for s in advisor_cast.SCENES}
    lines = ["", paint.bold("What should replace each key: rekey advise (read-only), on the organization"), ""]
    for k in advice.keys:
        if k.user_name in scene:
            lines += [
                f"  {k.user_name:<14} {k.key.key_id}  {k.advice.recommendation.value} ({k.advice.confidence.value}): "
                f"{k.advice.why}",
                paint.dim(f"                 evidence: {'; '.join(f.evidence for f in k.advice.fired) or '-'}"),
            ]
    counts = ", ".join(f"{name} {n}" for name, n in sorted(advice.counts().items()))
    lines.append(f"  all {len(advice.keys)} active keys of tagged users: {counts} (evidence: the trail's log files)")
    return lines


def _introduction(org: Org, options: Options, settings: Settings, paint: Painter) -> list[str]:
    p = settings.policy
    plan = org.plan
    cast = [u for u in plan.users if u.case.name != "SERVICE"]
    members = ", ".join(f"{name} ({org.account_ids[name]})" for name in plan.accounts)
    return [
        paint.bold(f"rekey demo: {_days(options.days)} of access-key rotation in an emulated AWS Organization"),
        "",
        f"  organization  {org.organization_id}; the hub (queues, topic: hub/template.yaml) runs in "
        f"{org.management_id}",
        f"  members       {members}",
        f"                each has the roles {settings.spoke_reader_role_name} and {settings.spoke_role_name}, "
        f"and the relay {settings.rotation_relay} that Secrets Manager's rotation invokes,",
        "                deployed by CloudFormation from spoke_templates/spoke-role.yaml",
        f"  users         {len(plan.users)}: {len(plan.users) - len(cast)} tagged service users, and one per "
        "special case:",
        *(f"                  {u.account:<10} {u.name:<16} {u.case.value}" for u in cast),
        f"  delivery      {DELIVERED_USER}'s keys are pushed to its SSM parameter /rekey/{DELIVERED_USER}/aws "
        f"and to the GitHub repository {GITHUB_REPOSITORY}",
        "                (a local fake of GitHub's API), approved for its account only; its CI reads GitHub's "
        "secret, and its old key",
        "                is retired once both destinations hold the new key and the CI has signed with it",
        f"  policy        rotate at {p.rotate_after_days} days, deactivate at {p.deactivate_after_days}, "
        f"delete at {p.delete_after_days}; users may shorten it by tag",
        "  each day      keys age a day, applications use their keys, then the sweep and the worker run "
        "exactly as in production",
        "",
        paint.bold("Timeline") + paint.dim(" (days with news only; events as received on an SQS subscription)"),
        paint.dim("(the demo ages keys rather than moving the clock: dates inside messages are today's)"),
    ]


def _closing(options: Options, simulation: Simulation, by_type: Counter[str], paint: Painter) -> list[str]:
    total = sum(by_type.values())
    owner = sum(simulation.owner_inbox.values())
    routed = ", ".join(sorted(simulation.owner_inbox_users)) or "nobody"
    return [
        "",
        f"Notifications on the topic, as the {INBOX} subscription received them: {total} ({counts(by_type)})",
        f"The {OWNER_INBOX} subscription (filter: owner = {OWNER_TEAM}) received only its own: {owner} "
        f"({counts(simulation.owner_inbox)}) about {routed}",
    ]


def _secrets_manager_line(org: Org) -> list[str]:
    """What Secrets Manager itself says of rekey's secrets (ListSecrets in each member account)."""
    from rekey.domain.secret_state import USER_ID_TAG

    listed = [
        s
        for account_id in org.member_ids
        for s in org.client("secretsmanager", account_id).list_secrets()["SecretList"]
        if any(t["Key"] == USER_ID_TAG for t in s.get("Tags", []))
    ]
    enabled = sum(bool(s.get("RotationEnabled")) for s in listed)
    recorded = sum(s.get("LastRotatedDate") is not None for s in listed)
    return [
        f"Secrets Manager, asked directly: {len(listed)} rekey secrets, rotation enabled on {enabled} (its function: "
        f"the account's relay, on each user's schedule), {recorded} with the date of their last rotation "
        "(LastRotatedDate)"
    ]


def _secret_line(leaks: int, secrets: int, notifications: int, characters: int) -> str:
    if leaks:
        return (
            f"FAILED: {leaks} of the {secrets} secret access keys created during the run (or lines of the GitHub "
            "App's private key) appeared in the output or the notifications"
        )
    return (
        f"No secret access key was printed: the {secrets} that existed during the run were searched for in "
        f"all {characters:,} characters written and in the {notifications} notifications both subscriptions "
        "received, and not found; nor was the GitHub App's private key."
    )


def _json_document(
    org: Org,
    options: Options,
    settings: Settings,
    events: list[DemoEvent],
    views: list[UserView],
    by_type: Counter[str],
    simulation: Simulation,
    elapsed: float,
) -> dict[str, Any]:
    p = settings.policy
    return {
        "seed": options.seed,
        "days": options.days,
        "policy": {
            "rotate_after_days": p.rotate_after_days,
            "deactivate_after_days": p.deactivate_after_days,
            "delete_after_days": p.delete_after_days,
        },
        "organization": {
            "id": org.organization_id,
            "hub_account_id": org.management_id,
            "accounts": [{"name": n, "account_id": org.account_ids[n]} for n in org.plan.accounts],
        },
        "users": [
            {
                "account": u.account,
                "user": u.name,
                "case": u.case.value,
                "tags": u.tags,
                "key_ages_on_day_0": list(u.key_ages),
            }
            for u in org.plan.users
        ],
        "events": [e.as_json() for e in events],
        "notifications_by_type": dict(sorted(by_type.items())),
        "owner_inbox": {
            "filter": {"owner": [OWNER_TEAM]},
            "by_type": dict(sorted(simulation.owner_inbox.items())),
            "users": sorted(simulation.owner_inbox_users),
        },
        "final": [v.as_json() for v in views],
        "elapsed_seconds": round(elapsed, 1),
    }
