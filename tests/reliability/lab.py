"""A lab for reliability tests: one fresh member account per case, the production sweep and
worker (through its Lambda handler) wired to a fault injector, simulated days, and the safety
invariants checked after every step."""

from __future__ import annotations

import functools
import json
import threading
import types
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from rekey_cli.sqs_source import drain
from rekey_dev import rotation as emulated_rotation
from rekey_dev.emulator import HUB_WORKER_ROLE, MANAGEMENT_ACCOUNT, REGION
from rekey_dev.function_url import Function
from rekey_dev.templates import create_state_table, hub_queue_definitions

from rekey.domain.delivery import DELIVER_TAG, parse_destinations, status_tag
from rekey.domain.errors import RekeyError
from rekey.domain.window import Window, parse_window
from rekey.handlers import rotation as rotation_handler
from rekey.handlers import worker
from rekey.messages import WorkItem
from rekey.runtime import Runtime
from rekey.settings import Settings
from rekey.use_cases.sweep import SweepResult, sweep
from rekey.use_cases.work import WorkOutcome, run_work_item
from tests.conftest import Org
from tests.faults import Faults, SimulatedCrash
from tests.invariants import CallGuard, SafetyChecker, Snapshot, guard_calls, key_secret
from tests.reliability.github import FaultyHttp, GitHub
from tests.reliability.per_org import per_org

TAG = {"rekey:rotate": "true"}
# Lab(deliver="ssm"): the destination the user selects, and its parameter; Lab(deliver="github"):
# a repository of the lab's own on the organization's fake GitHub (tests/reliability/github.py).
DESTINATION, PARAMETER, GITHUB_DESTINATION = "params", "/rekey/{user_name}/aws", "ci"
# The relay's name (spoke-role.yaml's RotationRelayName default): REKEY_ROTATION_RELAY in native mode.
RELAY = emulated_rotation.RELAY_NAME
# Lambda redelivers a message its function failed or died on once the visibility timeout ends.
REDELIVERY_DAYS = hub_queue_definitions().work.visibility_timeout / 86_400


class LabWindow(Window):
    """The lab's rotation window: all day (`daily 00:00-24:00 UTC`), except while the lab closes
    it (`Lab.day(window=...)`). The labs move days by aging keys, not the clock, so the window's
    hours cannot close there; its logic is played with a clock in tests/integration/test_rollout.py.
    This plays the rest: a sweep and workers that find it closed, an item queued while it was open
    and worked after it closed. Its switch is no field: the configuration (the waves' fingerprint)
    stays the same whether it is open or not."""

    closed: bool

    @classmethod
    def all_day(cls) -> LabWindow:
        window = cls(**vars(parse_window("daily 00:00-24:00 UTC")))
        object.__setattr__(window, "closed", False)
        return window

    def set_closed(self, closed: bool) -> None:
        object.__setattr__(self, "closed", closed)

    def is_open(self, at: datetime) -> bool:
        return not self.closed and super().is_open(at)


@functools.cache
def _hub_client(url: str, service: str) -> Any:
    """The emulator's own clients, shared by every lab (creating a client costs ~20 ms)."""
    import boto3
    from rekey_dev.emulator import REGION

    return boto3.client(service, region_name=REGION, endpoint_url=url)


@dataclass
class Step:
    name: str
    crashed: bool = False
    failed: int = 0
    outcomes: list[WorkOutcome] = field(default_factory=list)
    sweep: SweepResult | None = None
    error: str | None = None  # the sweep failed as a whole (the CLI exits 1; the sweep alarm fires)
    dead_lettered: int = 0

    @property
    def surfaced(self) -> bool:
        """Did this step make a failure visible to an operator, other than on the topic?"""
        return bool(self.error or (self.sweep and self.sweep.failed) or self.dead_lettered)


class Lab:
    """One member account of the emulated organization, swept alone.

    Cases share the organization (creating an account is much cheaper than resetting the
    emulator) and nothing else: each gets its own account, user, runtimes and fault injector,
    and leaves the shared queues empty."""

    counter = 0

    def __init__(
        self,
        org: Org,
        faults: Faults | None = None,
        *,
        user: str = "svc",
        native: bool = False,
        deliver: bool | str = False,
        rollout: bool = False,
    ) -> None:
        """`native`: Secrets Manager's rotation on (REKEY_ROTATION_RELAY): the relay deployed in
        the lab's account posts each step, signed, to a function URL served for the lab, whose
        handler is the production one (rekey.handlers.rotation) on a runtime of the lab's, so
        the hub's step calls go through the lab's fault injector like the worker's. `deliver`:
        the user selects a destination, an SSM parameter of its account (True, "ssm") or a
        GitHub repository ("github"; GitHub's calls go through the injector too); no key of it
        may then be retired before its replacement was picked up, unless that is announced.
        `rollout`: issue 31's controls on: the lab's account the first of two waves (the sweep
        releases this configuration to it, the worker checks it has), and a rotation window
        (LabWindow) that the lab's days may close; no key may be created, deactivated or deleted
        while it is, but an orphan of an interrupted rotation (settling does not wait)."""
        Lab.counter += 1
        self.org = org
        self.native = native
        self.faults = faults or Faults(instant_backoff=True)
        self.sqs = _hub_client(org.emulator.url, "sqs")
        organizations = _hub_client(org.emulator.url, "organizations")
        self.account_id = organizations.create_account(
            Email=f"lab-{Lab.counter}@example.com", AccountName=f"lab-{Lab.counter}"
        )["CreateAccountStatus"]["AccountId"]
        # Every other account of the organization is left out of this lab's sweeps.
        others = org.__dict__.setdefault("lab_accounts", {MANAGEMENT_ACCOUNT, *org.accounts.values()})
        update: dict[str, Any] = {"excluded_accounts": frozenset(others)}
        if native:
            update["rotation_relay"] = RELAY
        self.deliver = "ssm" if deliver is True else deliver or ""
        self.github = GitHub.of(org) if self.deliver == "github" else None
        if self.github is not None:  # approved for this lab's account only
            declared = {GITHUB_DESTINATION: self.github.destination(self.account_id)}
            update["destinations"] = parse_destinations(json.dumps(declared))
        elif self.deliver:
            destination = {"kind": "ssm-parameter", "name": PARAMETER, "allow": {"accounts": [self.account_id]}}
            update["destinations"] = parse_destinations(json.dumps({DESTINATION: destination}))
        # Its own state table: the breaker's day tally and the waves are the lab's alone (cases
        # share the real day, and a case's failures are its own).
        update["state_table"] = create_state_table(
            _hub_client(org.emulator.url, "dynamodb"), f"rekey-state-lab-{Lab.counter}"
        )
        self.window = LabWindow.all_day() if rollout else None
        if rollout:
            update |= {"waves": (frozenset({self.account_id}),), "wave_quiet_days": 1, "rotation_window": self.window}
        self.settings = Settings.from_env().model_copy(update=update)
        others.add(self.account_id)
        creds = _hub_client(org.emulator.url, "sts").assume_role(
            RoleArn=f"arn:aws:iam::{self.account_id}:role/OrganizationAccountAccessRole", RoleSessionName="lab"
        )["Credentials"]
        as_admin = {
            "aws_access_key_id": creds["AccessKeyId"],
            "aws_secret_access_key": creds["SecretAccessKey"],
            "aws_session_token": creds["SessionToken"],
        }
        self.iam = org.emulator.client("iam", **as_admin)
        self.ssm = org.emulator.client("ssm", **as_admin)
        # The report exists already (as it would after the first day), so no scan waits for it.
        self.iam.generate_credential_report()
        self._shared: dict[str, Any] = {}
        self.user = user
        self.checker: SafetyChecker | None = None
        self.guard: CallGuard | None = None
        self.steps: list[Step] = []
        self.violations: list[str] = []
        self.secrets: set[str] = set()  # every secret half of the user's keys seen: never to be said
        self.snap: Snapshot | None = None
        self.published: list[dict[str, Any]] = []
        self.faults.after("sns", "Publish", lambda p: self.published.append(json.loads(p["Message"])), times=0)
        self.scan_rt = self.runtime()
        self.worker_rt = self.runtime()
        # Native mode: the hub's rotation function (its runtime: a container of its own), and the
        # steps it handled: (step, its first and past-its-last index in `faults.log`, crashed).
        self.rotation_rt = self.runtime()
        self.step_spans: list[tuple[str, int, int, bool]] = []
        self._where = "setup"
        self._current: Step | None = None
        if native:
            hub = _RotationHub.of(org)
            hub.labs[self.account_id] = self
            emulated_rotation.deploy_relay(org.emulator, self.account_id, rotation_url=hub.url)

    def make_client(self, service: str, **kwargs: Any) -> Any:
        """The fault injector's clients; the hub's (no credentials) shared by the lab's runtimes."""
        if "aws_access_key_id" in kwargs:
            return self.faults.make_client(service, **kwargs)
        if service not in self._shared:
            self._shared[service] = self.faults.make_client(service, **kwargs)
        return self._shared[service]

    def runtime(self, faults: Faults | None = None) -> Runtime:
        """A runtime as a new Lambda container (or CLI process) would build it; with `faults`,
        another process's: its own clients and injector, nothing shared with the lab's."""
        rt = Runtime.build(self.settings, make_client=faults.make_client if faults else self.make_client)
        rt.sleep = lambda _seconds: None
        rt.http = FaultyHttp(faults or self.faults)
        return rt

    # -- the case's user

    def create_user(self, tags: dict[str, str] | None = None, keys: int = 1, **kw: Any) -> list[str]:
        chosen = TAG if tags is None else tags
        if self.deliver:
            chosen = {**chosen, DELIVER_TAG: GITHUB_DESTINATION if self.github else DESTINATION}
        tag_list = [{"Key": k, "Value": v} for k, v in chosen.items()]
        self.iam.create_user(UserName=self.user, Tags=tag_list, **kw)
        created = [self.iam.create_access_key(UserName=self.user)["AccessKey"]["AccessKeyId"] for _ in range(keys)]
        self.watch(set(created))
        return created

    def watch(self, human_keys: set[str]) -> None:
        self.checker = SafetyChecker(self.org, self.account_id, self.user, human_keys)
        self.guard = guard_calls(self.faults, self.checker)
        if self.deliver:
            self.faults.watch("iam", "UpdateAccessKey", self._before_deactivation)
        if self.window is not None:
            for operation in ("CreateAccessKey", "UpdateAccessKey", "DeleteAccessKey"):
                self.faults.watch("iam", operation, functools.partial(self._inside_window, operation))

    def _inside_window(self, operation: str, params: dict[str, Any]) -> None:
        """No key is created, deactivated or deleted while the window is closed; but an orphan of
        an interrupted rotation, which nobody can have used, is removed whenever it is found."""
        assert self.window is not None and self.checker is not None
        if not self.window.closed:
            return
        key_id = params.get("AccessKeyId")
        orphan = key_id not in self.checker.human_keys and key_id not in self.checker.snapshot().secret.stored()
        if operation != "CreateAccessKey" and orphan:  # deactivated, then deleted
            return
        self.violations.append(f"{self._where}: {operation} {key_id or ''} while the rotation window is closed")

    def _before_deactivation(self, params: dict[str, Any]) -> None:
        """Retire on proof: a key that was the user's (a person's, or current before) is deactivated
        only once its replacement is where the consumers read it and was used since, or after its
        unconfirmed pickup was announced (its deadline)."""
        assert self.checker is not None
        key_id, snap = params.get("AccessKeyId"), self.checker.snapshot()
        previous = snap.secret.key_in("AWSPREVIOUS")
        if params.get("Status") != "Inactive" or key_id not in {previous, *self.checker.human_keys}:
            return  # an orphan of an interrupted rotation: nobody ever had it
        current = snap.secret.key_in("AWSCURRENT")
        if self.delivered_key() == current and current is not None and self._consumer_used(current):
            return
        if any(e["event"] == "pickup-unconfirmed" and e.get("key_id") == key_id for e in self.published):
            return
        why = "never used" if self.delivered_key() == current else f"the destination holds {self.delivered_key()}"
        self.violations.append(
            f"{self._where}: {key_id} deactivated before its replacement {current} was picked up ({why}), unannounced"
        )

    def age(self, days: float) -> None:
        self.org.age(days, accounts=(self.account_id,))
        if self.github is not None:
            self.github.offset += timedelta(days=days)

    def _consumer_used(self, key_id: str) -> bool:
        """Has anyone but rekey's own check (STS) signed with `key_id`?"""
        from moto.iam.models import iam_backends

        key = iam_backends[self.account_id]["global"].access_keys.get(key_id)
        use = getattr(key, "last_used", None)
        return use is not None and use.timestamp is not None and (use.service or "").lower() != "sts"

    def delivered_key(self) -> str | None:
        """The key id the user's destination holds (delivery on; GitHub's only when it holds
        that key's secret too), or None."""
        if self.github is not None:
            key_id, secret = self.github.held(self.account_id)
            return key_id if key_id is not None and secret == key_secret(self.account_id, key_id) else None
        try:
            value = self.ssm.get_parameter(Name=PARAMETER.replace("{user_name}", self.user), WithDecryption=True)
        except self.ssm.exceptions.ParameterNotFound:
            return None
        return json.loads(value["Parameter"]["Value"]).get("AccessKey")

    def delivery_status(self) -> str | None:
        """What the user's secret records of its destination (`<key id> synced ...`), or None."""
        from moto.secretsmanager.models import secretsmanager_backends

        assert self.checker is not None
        secret = secretsmanager_backends[self.account_id][REGION].secrets.get(self.checker.secret_name)
        tag = status_tag(GITHUB_DESTINATION if self.github else DESTINATION)
        return next((t["Value"] for t in (secret.tags or []) if t["Key"] == tag), None) if secret else None

    def keys(self) -> dict[str, str]:
        meta = self.iam.list_access_keys(UserName=self.user)["AccessKeyMetadata"]
        return {k["AccessKeyId"]: k["Status"] for k in meta}

    def work(self, action: str, key_id: str | None, rt: Runtime | None = None) -> WorkOutcome:
        """One work item straight through the use case, by default in the sweep's runtime (to set
        a case up without building another runtime; the worker's stays as a new container's)."""
        item = WorkItem(account_id=self.account_id, user_name=self.user, key_id=key_id, action=action, sweep_id="lab")
        return run_work_item(rt or self.scan_rt, item)

    # -- a day: the sweep, then the worker over the queue

    def day(self, label: str, window: str = "open") -> None:
        """The day's sweep and workers; with `rollout`, `window` is "open" all day, "closed" all
        day, or "closes" between the sweep and the workers (what the sweep queued waits)."""
        assert window == "open" or self.window is not None, "a lab without rollout has no window"
        self._close_window(window == "closed")
        self.sweep(f"{label} sweep")
        self._close_window(window != "open")
        self.drain(f"{label} worker")
        self._close_window(False)

    def _close_window(self, closed: bool) -> None:
        if self.window is not None:
            self.window.set_closed(closed)

    def sweep(self, name: str) -> Step:
        step = Step(name)
        self._where, self._current = name, step
        try:
            step.sweep = sweep(self.scan_rt, name.replace(" ", "-"))
        except RekeyError as exc:
            step.error = f"{exc.code}: {exc}"
        except SimulatedCrash:
            step.crashed = True  # the sweep died; tomorrow's runs again
            self.scan_rt = self.runtime()
        self.steps.append(step)
        self._check(name)
        return step

    def drain(self, name: str) -> Step:
        """Lambda's event source over the work queue. A failed or crashed batch comes back after
        the queue's visibility timeout: the clock moves on by as much before it is redelivered."""
        step = Step(name)
        self._where, self._current = name, step

        def handler(event: dict[str, Any]) -> dict[str, Any]:
            try:
                response = worker.process(event, self.worker_rt, outcomes=step.outcomes)
            except SimulatedCrash:
                step.crashed = True
                self.worker_rt = self.runtime()  # the next invocation runs in a new container
                response = {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in event["Records"]]}
            if response.get("batchItemFailures"):
                self.age(REDELIVERY_DAYS)
            self._check(f"{name}, after a batch")
            return response

        step.failed = drain(self.sqs, self.settings.work_queue_url, handler, retry_failed_now=True).failed
        step.dead_lettered = len(self.dead_letters()) if step.failed else 0
        self.steps.append(step)
        return step

    # -- the hub's rotation function (native mode)

    def rotation_step(self, event: dict[str, Any]) -> dict[str, Any]:
        """The hub's rotation function URL's handler for this lab's relay: the production
        handler, in the function URL's thread (the worker's RotateSecret call waits in the
        lab's until Secrets Manager's steps are done, so calls never interleave). A process
        that dies in it (SimulatedCrash) is a Lambda container dying: the URL answers 502
        (which the relay retries, as Lambda re-runs), and the next request gets a new one."""
        try:
            name = str(json.loads(event.get("body") or "{}").get("Step"))
        except ValueError:
            name = "?"
        start, crashed = len(self.faults.log), False
        try:
            return rotation_handler.process(event, self.rotation_rt)
        except SimulatedCrash:
            crashed = True
            if self._current is not None:
                self._current.crashed = True
            self.rotation_rt = self.runtime()
            body = json.dumps({"Message": "Internal Server Error"})
            return {"statusCode": 502, "headers": {"content-type": "application/json"}, "body": body}
        finally:
            self.step_spans.append((name, start, len(self.faults.log), crashed))
            self._check(f"{self._where}, after Secrets Manager's {name}")

    def _check(self, where: str) -> None:
        if self.checker is None or self.guard is None:
            return
        self.snap = self.checker.snapshot()
        self.secrets.update(s for k in self.snap.keys if (s := key_secret(self.account_id, k)))
        found = self.checker.violations(self.snap) + self.guard.violations
        self.guard.violations.clear()
        self.violations += [f"{where}: {v}" for v in found]

    # -- what the case leaves behind

    def leaks(self, *texts: str) -> list[str]:
        """Where a secret half of the user's keys appears: in a notification, a step's error, or `texts`."""
        said = [("a notification", json.dumps(self.published)), *(("a step", s.error or "") for s in self.steps)]
        said += [("the log", t) for t in texts]
        return [f"a secret access key in {where}" for where, text in said for secret in self.secrets if secret in text]

    def events(self) -> list[dict[str, Any]]:
        """Every notification rekey published for this lab (seen as the calls succeed, which
        costs no reads of the topic's subscription queue)."""
        return list(self.published)

    def dead_letters(self) -> list[str]:
        """Empty the work DLQ (shared by the cases), returning the bodies it held."""
        bodies = []
        while True:
            batch = self.sqs.receive_message(QueueUrl=self.org.hub.work_dlq_url, MaxNumberOfMessages=10).get(
                "Messages", []
            )
            if not batch:
                return bodies
            bodies += [m["Body"] for m in batch]
            self.sqs.delete_message_batch(
                QueueUrl=self.org.hub.work_dlq_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)],
            )

    def queued(self) -> int:
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=self.settings.work_queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])


class _RotationHub:
    """The hub's rotation function URL for the labs of one organization (one emulator): each
    lab's relay posts to it, signed with its role; the function URL (rekey_dev.function_url)
    authenticates the request as AWS does, and the step goes to the lab of the caller's
    account (Lab.rotation_step). Served until the emulator's next reset."""

    def __init__(self, org: Org) -> None:
        self.labs: weakref.WeakValueDictionary[str, Lab] = weakref.WeakValueDictionary()
        self.backoffs: list[float] = []  # the relays' waits before retrying (not slept)
        function = _LabsFunction(
            handler=self._handle,
            account_id=MANAGEMENT_ACCOUNT,
            role_arn=f"arn:aws:iam::{MANAGEMENT_ACCOUNT}:role/{HUB_WORKER_ROLE}",
            name="rekey-hub-RotationFunction",
            region=REGION,
            environment=dict,
        )
        self.url = org.emulator.serve_function_url(function)
        _install_relay_sleep()
        _relay_sleeps[self.url] = self.backoffs.append

    @classmethod
    def of(cls, org: Org) -> _RotationHub:
        return per_org(org, "lab_rotation_hub", cls)

    def _handle(self, event: dict[str, Any], _runtime: Any) -> dict[str, Any]:
        account = event["requestContext"]["authorizer"]["iam"]["accountId"]
        lab = self.labs.get(account)
        if lab is None:
            body = json.dumps({"error": "forbidden", "message": f"no lab for account {account}"})
            return {"statusCode": 403, "headers": {"content-type": "application/json"}, "body": body}
        return lab.rotation_step(event)


class _LabsFunction(Function):
    def runtime(self) -> Any:
        """None: each lab's handler runs on its own runtime (Lab.rotation_rt)."""
        return None


# The relay's backoff between attempts (time.sleep in its code), per hub URL: recorded, not
# slept, for relays posting to a lab's hub (as Faults(instant_backoff=True) does for botocore's).
_relay_sleeps: dict[str, Callable[[float], None]] = {}
_lock = threading.Lock()


def _install_relay_sleep() -> None:
    with _lock:
        if getattr(emulated_rotation.load_relay, "lab_sleep", False):
            return
        original = emulated_rotation.load_relay

        def load_relay(environment: Any, credentials: Any, code: str | None = None) -> types.ModuleType:
            module = original(environment, credentials, code)
            record = _relay_sleeps.get(environment.get("REKEY_ROTATION_URL", ""))
            if record is not None:
                module.time = types.SimpleNamespace(sleep=record)  # type: ignore[attr-defined]
            return module

        load_relay.lab_sleep = True  # type: ignore[attr-defined]
        emulated_rotation.load_relay = load_relay  # type: ignore[assignment]
