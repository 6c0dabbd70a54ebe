"""The operators' pure rules: exemptions, in-use warnings and deferral, pauses, the first key,
operator requests, rollback, and the forecast."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from rekey_cli.compliance import ComplianceReport, NotChecked, Unchecked, left_out
from rekey_cli.forecast import next_actions, simulate
from rekey_cli.formats import failing_days_text
from rekey_cli.render_report import not_checked_text

from rekey.domain.controls import PRESETS, Preset
from rekey.domain.entities import Account
from rekey.domain.errors import Refused
from rekey.domain.lifecycle import decide
from rekey.domain.manual import Request, decide_request, plan_rollback
from rekey.domain.models import AccessKey, ActionKind, InUsePolicy, KeyStatus, KeyUse, Policy, SecretState
from rekey.domain.policy import Bounds
from rekey.domain.scope import Scope, assess, parse_day
from rekey.messages import ClassicManualEvent, WorkAction, WorkItem
from rekey.settings import Settings

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
TODAY = NOW.date()
A, I = KeyStatus.ACTIVE, KeyStatus.INACTIVE  # noqa: E741
K = ActionKind
TAG = {"rekey:rotate": "true"}


def key(key_id: str, status: KeyStatus, age: float, used_days_ago: float | None = None) -> AccessKey:
    use = KeyUse(NOW - timedelta(days=used_days_ago), "s3", "eu-west-1") if used_days_ago is not None else None
    return AccessKey(key_id, status, NOW - timedelta(days=age), use)


def kinds(actions: list) -> list[tuple[ActionKind, str | None]]:
    return [(a.kind, a.key_id) for a in actions]


# --------------------------------------------------------------------------- exemptions


def standing(tags: dict[str, str], now: datetime = NOW):
    return assess(tags, "rekey:rotate", Policy(), Bounds(), now)


@pytest.mark.parametrize(
    ("tags", "scope", "why"),
    [
        (TAG, Scope.IN, "tagged true"),
        ({}, Scope.OUT, "not tagged"),
        ({"rekey:rotate": "false"}, Scope.OUT, "tagged false"),
        ({**TAG, "rekey:exempt-until": "2026-11-28"}, Scope.EXEMPT, "exempt until 2026-11-28: no reason given"),
        (
            {**TAG, "rekey:exempt-until": "2027-01-31", "rekey:exempt-reason": "vendor migration"},
            Scope.EXEMPT,
            "exempt until 2027-01-31: vendor migration",
        ),
        ({**TAG, "rekey:exempt-until": "2026-11-27"}, Scope.IN, "tagged true (exemption lapsed after 2026-11-27)"),
        ({**TAG, "rekey:exempt-until": "soon"}, Scope.MISCONFIGURED, "tag rekey:exempt-until: 'soon' is not a date"),
        ({**TAG, "rekey:exempt-until": "2026-02-30"}, Scope.MISCONFIGURED, "'2026-02-30' is not a valid date"),
        ({"rekey:rotate": "yes"}, Scope.MISCONFIGURED, "neither 'true' nor 'false'"),
    ],
)
def test_scope_from_tags_and_date(tags: dict[str, str], scope: Scope, why: str) -> None:
    result = standing(tags)
    assert result.scope is scope
    assert why in result.why
    assert (result.policy is not None) == (scope in (Scope.IN, Scope.EXEMPT))


def test_an_exemption_lapses_the_day_after_its_date() -> None:
    tags = {**TAG, "rekey:exempt-until": "2026-11-28", "rekey:exempt-reason": "audit freeze"}
    assert standing(tags, datetime(2026, 11, 28, 23, 59, tzinfo=UTC)).scope is Scope.EXEMPT
    assert standing(tags, datetime(2026, 11, 29, 0, 0, tzinfo=UTC)).scope is Scope.IN


def test_opt_out_is_a_permanent_exemption_with_its_reason() -> None:
    result = standing({"rekey:rotate": "false", "rekey:exempt-reason": "break-glass"})
    assert result.exemption is not None
    assert (result.exemption.until, result.exemption.reason) == (None, "break-glass")


def test_parse_day_says_what_is_wrong() -> None:
    assert parse_day(" 2026-12-01 ") == date(2026, 12, 1)
    with pytest.raises(ValueError, match="is not a date YYYY-MM-DD"):
        parse_day("1/12/2026")


# --------------------------------------------------------------------------- in-use warnings and deferral

PAIR_SECRET = SecretState(exists=True, current_key_id="NEW")


@pytest.mark.parametrize(
    ("old_age", "new_age", "expected"),
    [
        (96, 6, []),  # due in 4 days: not yet
        (97, 7, [(K.WARN_IN_USE, "OLD")]),  # due in 3 days
        (99, 9, [(K.WARN_IN_USE, "OLD")]),  # due tomorrow
        (100, 10, [(K.DEACTIVATE, "OLD")]),  # due: enforced
        (120, 8, [(K.WARN_IN_USE, "OLD")]),  # old enough, but the replacement is young: due in 2 days
    ],
)
def test_old_key_in_use_is_warned_about_days_ahead(old_age: int, new_age: int, expected: list) -> None:
    keys = [key("OLD", A, old_age, used_days_ago=1), key("NEW", A, new_age)]
    assert kinds(decide(keys, PAIR_SECRET, Policy(), NOW)) == expected


def test_warning_names_when_where_and_the_date() -> None:
    (warn,) = decide([key("OLD", A, 98, used_days_ago=0.5), key("NEW", A, 8)], PAIR_SECRET, Policy(), NOW)
    assert warn.in_use is not None and warn.in_use.service == "s3"
    assert "last used 2026-11-28 00:00 UTC, s3 in eu-west-1" in warn.reason
    assert "deactivated in 2 day(s), on 2026-11-30" in warn.reason


def test_no_warning_for_use_before_the_replacement_or_when_warned_today() -> None:
    unused_since = [key("OLD", A, 98, used_days_ago=9), key("NEW", A, 8)]
    assert decide(unused_since, PAIR_SECRET, Policy(), NOW) == []
    used = [key("OLD", A, 98, used_days_ago=1), key("NEW", A, 8)]
    warned = SecretState(exists=True, current_key_id="NEW", in_use_warned=("OLD", TODAY))
    assert decide(used, warned, Policy(), NOW) == []
    warned_yesterday = SecretState(exists=True, current_key_id="NEW", in_use_warned=("OLD", TODAY - timedelta(1)))
    assert kinds(decide(used, warned_yesterday, Policy(), NOW)) == [(K.WARN_IN_USE, "OLD")]


def test_warn_days_zero_never_warns_ahead() -> None:
    keys = [key("OLD", A, 99, used_days_ago=1), key("NEW", A, 9)]
    assert decide(keys, PAIR_SECRET, Policy(in_use_warn_days=0), NOW) == []


DEFER = Policy(in_use_policy=InUsePolicy.DEFER, in_use_max_defer_days=5)


@pytest.mark.parametrize(
    ("old_age", "used_days_ago", "expected"),
    [
        (100, 1, K.WARN_IN_USE),  # due, still used: deferred (day 1 of 5)
        (104, 1, K.WARN_IN_USE),  # day 5 of 5
        (105, 1, K.DEACTIVATE),  # the bound: enforced
        (100, 8, K.DEACTIVATE),  # used after its replacement, but silent for a week
    ],
)
def test_defer_waits_while_the_key_is_used_then_enforces(old_age: int, used_days_ago: float, expected) -> None:
    new_age = 10 + (old_age - 100)
    keys = [key("OLD", A, old_age, used_days_ago), key("NEW", A, new_age)]
    (action,) = decide(keys, PAIR_SECRET, DEFER, NOW)
    assert action.kind is expected
    if expected is K.WARN_IN_USE:
        assert "deferred" in action.reason


def test_deferral_leaves_a_day_before_deletion() -> None:
    tight = Policy(90, 100, 103, in_use_policy=InUsePolicy.DEFER, in_use_max_defer_days=30)
    assert tight.max_defer_days == 2  # deactivated at 102 at the latest, deleted at 103
    assert Policy(in_use_max_defer_days=30).max_defer_days == 0  # enforce never defers


# --------------------------------------------------------------------------- pause and first key


def paused(until: date, current: str = "NEW") -> SecretState:
    return SecretState(exists=True, current_key_id=current, paused_until=until)


def test_a_pause_stops_rotation_deletion_and_deactivation_until_its_end() -> None:
    due_all = [key("OLD", I, 130), key("NEW", A, 95)]
    assert kinds(decide(due_all, SecretState(True, "NEW"), Policy(), NOW)) == [(K.DELETE, "OLD"), (K.ROTATE, "NEW")]
    assert decide(due_all, paused(TODAY), Policy(), NOW) == []
    reactivated = [key("OLD", A, 105), key("NEW", A, 15)]
    assert decide(reactivated, paused(TODAY + timedelta(days=5)), Policy(), NOW) == []
    assert kinds(decide(reactivated, paused(TODAY - timedelta(days=1)), Policy(), NOW)) == [(K.DEACTIVATE, "OLD")]


def test_in_use_warnings_continue_through_the_end_of_a_pause() -> None:
    used = [key("OLD", A, 105, used_days_ago=1), key("NEW", A, 15)]
    assert decide(used, paused(TODAY + timedelta(days=5)), Policy(), NOW) == []
    (warn,) = decide(used, paused(TODAY + timedelta(days=1)), Policy(), NOW)
    assert warn.kind is K.WARN_IN_USE and "in 2 day(s), on 2026-11-30 (paused until 2026-11-29)" in warn.reason


def test_first_key_only_when_configured_and_only_without_any_key() -> None:
    first = Policy(create_first_key=True)
    assert kinds(decide([], SecretState(), first, NOW)) == [(K.ROTATE, None)]
    assert decide([], SecretState(), Policy(), NOW) == []
    assert decide([key("K1", I, 20)], SecretState(), first, NOW) == []  # a disabled key is someone's choice


# --------------------------------------------------------------------------- operator requests


def request(kind: ActionKind, key_id: str | None = None, **kw) -> Request:
    return Request(kind, key_id, **kw)


@pytest.mark.parametrize(
    ("keys", "req", "actions", "refused", "skipped"),
    [
        # rotate now, whatever the age
        ([key("K1", A, 3)], request(K.ROTATE, "K1"), [(K.ROTATE, "K1")], None, None),
        ([key("K1", A, 3)], request(K.ROTATE, "K1", revoke_old=True), [(K.ROTATE, "K1"), (K.DEACTIVATE, "K1")], 0, 0),
        # make room: an inactive other key is deleted first
        ([key("K0", I, 50), key("K1", A, 3)], request(K.ROTATE, "K1"), [(K.DELETE, "K0"), (K.ROTATE, "K1")], 0, 0),
        # two active keys: refused, nothing done
        ([key("K0", A, 50), key("K1", A, 3)], request(K.ROTATE, "K1"), [], "both keys are active", None),
        # a repeated request finds its key replaced
        ([key("K0", A, 50), key("K1", A, 0.01)], request(K.ROTATE, "K0"), [], None, "no longer the user's newest"),
        # the classic event names no key: a key younger than an hour is not replaced again
        ([key("K1", A, 0.01)], request(K.ROTATE), [], None, "less than an hour ago"),
        ([key("K1", A, 0.1)], request(K.ROTATE), [(K.ROTATE, "K1")], None, None),
        ([], request(K.ROTATE), [], "no access key to replace", None),
        ([], request(K.ROTATE, create_first_key=True), [(K.ROTATE, None)], None, None),
        # deactivate: only an old active key that is not the secret's current key
        ([key("K0", A, 50), key("NEW", A, 3)], request(K.DEACTIVATE), [(K.DEACTIVATE, "K0")], None, None),
        ([key("NEW", A, 3)], request(K.DEACTIVATE), [], None, "no old active key"),
        ([key("K0", A, 50), key("NEW", A, 3)], request(K.DEACTIVATE, "NEW"), [], "newest active key", None),
        # delete: never an active key, never the current one
        ([key("K0", I, 50), key("NEW", A, 3)], request(K.DELETE), [(K.DELETE, "K0")], None, None),
        ([key("K0", A, 50), key("NEW", A, 3)], request(K.DELETE), [], "never deletes an active key", None),
        ([key("NEW", A, 3)], request(K.DELETE, "NEW"), [], "never deletes an active key", None),
        ([key("NEW", A, 3)], request(K.DELETE), [], None, "no inactive key"),
        # the classic event (floor 7): not before the replacement is 7 days old, never a key in use
        ([key("K0", A, 50), key("NEW", A, 3)], request(K.DEACTIVATE, floor=7), [], "REKEY_MIN_OVERLAP_DAYS", None),
        ([key("K0", I, 50), key("NEW", A, 3)], request(K.DELETE, floor=7), [], "REKEY_MIN_OVERLAP_DAYS", None),
        ([key("K0", A, 50, 1), key("NEW", A, 8)], request(K.DEACTIVATE, floor=7), [], "used after its replacement", 0),
        ([key("K0", A, 50, 9), key("NEW", A, 8)], request(K.DEACTIVATE, floor=7), [(K.DEACTIVATE, "K0")], None, None),
        ([key("K0", I, 50), key("NEW", A, 8)], request(K.DELETE, floor=7), [(K.DELETE, "K0")], None, None),
        ([key("K1", A, 0.1)], request(K.ROTATE, floor=7), [(K.ROTATE, "K1")], None, None),  # rotating breaks nobody
    ],
)
def test_requests_act_within_the_invariants(keys, req, actions, refused, skipped) -> None:
    plan = decide_request(req, keys, SecretState(exists=True, current_key_id="NEW"), NOW)
    assert kinds(plan.actions) == actions
    assert (plan.refused is None) == (not refused)
    assert (plan.skipped is None) == (not skipped)
    if refused:
        assert refused in plan.refused
    if skipped:
        assert skipped in plan.skipped


def test_a_pause_refuses_requested_deactivation_and_deletion_but_not_rotation() -> None:
    keys = [key("K0", A, 105), key("NEW", A, 15)]
    secret = paused(TODAY + timedelta(days=3))
    for kind in (K.DEACTIVATE, K.DELETE):
        assert "paused until 2026-12-01" in decide_request(request(kind), keys, secret, NOW).refused
    one = [key("NEW", A, 15)]
    assert kinds(decide_request(request(K.ROTATE, "NEW"), one, secret, NOW).actions) == [(K.ROTATE, "NEW")]


def test_rollback_names_the_replaced_key_and_refuses_the_impossible() -> None:
    secret = SecretState(exists=True, current_key_id="NEW")
    keys = [key("OLD", I, 101), key("NEW", A, 11)]
    assert plan_rollback(keys, secret, "OLD").reactivate is True
    assert plan_rollback([key("OLD", A, 99), key("NEW", A, 9)], secret, "OLD").reactivate is False
    with pytest.raises(Refused, match="already deleted and cannot be restored"):
        plan_rollback([key("NEW", A, 11)], secret, "OLD")
    with pytest.raises(Refused, match="never rotated"):
        plan_rollback(keys, SecretState(), None)
    with pytest.raises(Refused, match="no previous version"):
        plan_rollback(keys, secret, None)
    with pytest.raises(Refused, match="is the secret's current key"):
        plan_rollback(keys, secret, "NEW")


# --------------------------------------------------------------------------- forecast


def always(policy: Policy = Policy()):  # noqa: B008
    return lambda _moment: policy


def test_forecast_walks_the_lifecycle_day_by_day() -> None:
    planned = simulate([key("K1", A, 85)], SecretState(), NOW, 40, always())
    assert [(p.first, p.kind, p.key_id) for p in planned] == [
        (TODAY + timedelta(days=5), K.ROTATE, "K1"),
        (TODAY + timedelta(days=15), K.DEACTIVATE, "K1"),
        (TODAY + timedelta(days=25), K.DELETE, "K1"),
    ]
    assert "new key 1" in planned[1].reason  # the replacement the forecast created


def test_forecast_merges_daily_warnings_into_one_range() -> None:
    keys = [key("OLD", A, 95, used_days_ago=1), key("NEW", A, 5)]
    planned = simulate(keys, PAIR_SECRET, NOW, 10, always())
    warn, deactivate = planned[0], planned[1]
    assert (warn.kind, warn.first, warn.last) == (K.WARN_IN_USE, TODAY + timedelta(days=2), TODAY + timedelta(days=4))
    assert (deactivate.kind, deactivate.first) == (K.DEACTIVATE, TODAY + timedelta(days=5))


def test_forecast_honours_exemptions_lapsing_and_pauses_ending() -> None:
    tags = {**TAG, "rekey:exempt-until": str(TODAY + timedelta(days=3))}

    def on(moment: datetime):
        s = assess(tags, "rekey:rotate", Policy(), Bounds(), moment)
        return s.policy if s.in_scope else None

    (rotate, *_) = simulate([key("K1", A, 120)], SecretState(), NOW, 10, on)
    assert (rotate.kind, rotate.first) == (K.ROTATE, TODAY + timedelta(days=4))
    reactivated = [key("OLD", A, 105), key("NEW", A, 15)]
    (deactivate, *_) = simulate(reactivated, paused(TODAY + timedelta(days=2)), NOW, 10, always())
    assert (deactivate.kind, deactivate.first) == (K.DEACTIVATE, TODAY + timedelta(days=3))


def test_next_actions_give_each_keys_next_step() -> None:
    found = next_actions([key("OLD", I, 105), key("NEW", A, 15)], PAIR_SECRET, NOW, 800, always())
    assert (found["OLD"].kind, found["OLD"].first) == (K.DELETE, TODAY + timedelta(days=5))
    assert (found["NEW"].kind, found["NEW"].first) == (K.ROTATE, TODAY + timedelta(days=75))


@settings(max_examples=150, deadline=None)
@given(
    ages=st.lists(st.tuples(st.booleans(), st.integers(0, 400), st.none() | st.integers(0, 30)), max_size=2),
    current=st.integers(0, 2),
    defer=st.booleans(),
    first=st.booleans(),
)
def test_forecast_never_breaks_the_invariants(ages, current, defer, first) -> None:
    keys = [key(f"K{i}", A if active else I, age, used) for i, (active, age, used) in enumerate(ages)]
    secret = SecretState(exists=bool(keys), current_key_id=f"K{current}" if current < len(keys) else None)
    policy = Policy(in_use_policy=InUsePolicy.DEFER if defer else InUsePolicy.ENFORCE, create_first_key=first)
    state = {k.key_id: k.active for k in keys}  # key id -> active
    had_active, created = any(state.values()), 0
    for p in simulate(keys, secret, NOW, 250, always(policy)):
        if p.kind is K.ROTATE:
            assert len(state) < 2  # room was made first: never a third key
            created += 1
            state[f"new key {created}"] = True
        elif p.kind is K.DELETE:
            assert state.pop(p.key_id) is False  # never deletes an active key
        elif p.kind is K.DEACTIVATE:
            state[p.key_id] = False
        assert not had_active or any(state.values())  # never zero active keys for a user who had one


# --------------------------------------------------------------------------- messages and settings


def test_the_classic_manual_event_maps_onto_a_work_item_without_authority() -> None:
    event = ClassicManualEvent.model_validate({"action": "create", "username": "svc", "account_id": "111122223333"})
    item = event.work_item(NOW)
    assert (item.action, item.key_id, item.user_name) == (WorkAction.ROTATE, None, "svc")
    assert (item.manual, item.revoke_old, item.requested_by) == (False, False, None)
    assert ClassicManualEvent.model_validate({**event.model_dump(), "action": "delete"}).work_item(NOW).action is (
        WorkAction.DELETE
    )
    for bad in ({"action": "purge"}, {"username": "a b"}, {"account_id": "1"}, {"extra": 1}):
        with pytest.raises(ValidationError):
            ClassicManualEvent.model_validate({**event.model_dump(), **bad})


def test_a_work_item_on_the_queue_carries_no_authority() -> None:
    """Attack: a message sent to the work queue claims to be an operator's request that revokes
    the old key, requested by whoever the sender names. It cannot even be parsed."""
    base = {"account_id": "111122223333", "user_name": "svc", "sweep_id": "x", "action": "rotate"}
    for forged in ({"manual": True}, {"revoke_old": True}, {"requested_by": "arn:aws:iam::111122223333:role/ciso"}):
        with pytest.raises(ValidationError):
            WorkItem.model_validate_json(json.dumps({**base, **forged}))
    # Items queued before these fields were withdrawn still parse.
    legacy = {**base, "manual": False, "revoke_old": False, "requested_by": None}
    assert WorkItem.model_validate_json(json.dumps(legacy)).action is WorkAction.ROTATE


def test_operator_settings_from_the_environment() -> None:
    env = {
        "AWS_DEFAULT_REGION": "eu-west-1",
        "REKEY_IN_USE_WARN_DAYS": "5",
        "REKEY_IN_USE_POLICY": "defer",
        "REKEY_IN_USE_MAX_DEFER_DAYS": "4",
        "REKEY_CREATE_FIRST_KEY": "true",
        "REKEY_TARGET_OUS": "ou-ab12-abcdefgh, r-ab12",
        "REKEY_MAX_PAUSE_DAYS": "14",
    }
    s = Settings.from_env(env, require=())
    assert s.policy == Policy(
        in_use_warn_days=5, in_use_policy=InUsePolicy.DEFER, in_use_max_defer_days=4, create_first_key=True
    )
    assert s.target_ous == {"ou-ab12-abcdefgh", "r-ab12"} and s.max_pause_days == 14
    from rekey.domain.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="REKEY_IN_USE_POLICY"):
        Settings.from_env({**env, "REKEY_IN_USE_POLICY": "sometimes"}, require=())
    with pytest.raises(ConfigurationError, match=r"REKEY_TARGET_OUS: .*not OU or root ids"):
        Settings.from_env({**env, "REKEY_TARGET_OUS": "prod"}, require=())


# --------------------------------------------------------------------------- the compliance report


MANAGEMENT = Account("111111111111", "management")
PAYMENTS = Account("222222222222", "payments")
SANDBOX = Account("333333333333", "sandbox")


def test_the_report_names_every_listed_account_it_did_not_read() -> None:
    found = left_out([MANAGEMENT, PAYMENTS, SANDBOX], [PAYMENTS], frozenset({"111111111111", "999999999999"}))
    assert [(n.account, n.kind, n.reason) for n in found] == [
        (MANAGEMENT, Unchecked.EXCLUDED, "excluded by REKEY_EXCLUDED_ACCOUNTS"),
        # Neither read nor excluded: only REKEY_TARGET_OUS leaves an account out otherwise.
        (SANDBOX, Unchecked.OUTSIDE_TARGET_OUS, "outside REKEY_TARGET_OUS"),
        # An excluded id the organization does not list (a typo, a closed account) shows too.
        (
            Account("999999999999", ""),
            Unchecked.EXCLUDED,
            "excluded by REKEY_EXCLUDED_ACCOUNTS (not an ACTIVE account of the organization)",
        ),
    ]
    assert left_out([PAYMENTS], [PAYMENTS], frozenset()) == []


def empty_report(not_checked: list[NotChecked], preset: Preset = Preset.RECIPE) -> ComplianceReport:
    return ComplianceReport(NOW, "arn:x", None, preset, PRESETS[preset], Bounds(), [], [], not_checked, [])


def test_the_coverage_line_counts_excluded_and_unreachable_even_at_zero() -> None:
    assert not_checked_text(empty_report([])) == "0 account(s) checked, 0 not checked (excluded 0, unreachable 0)"
    rep = empty_report(
        [
            NotChecked(MANAGEMENT, Unchecked.EXCLUDED, "excluded by REKEY_EXCLUDED_ACCOUNTS"),
            NotChecked(PAYMENTS, Unchecked.UNREACHABLE, "access-denied: sts:AssumeRole"),
            NotChecked(SANDBOX, Unchecked.OUTSIDE_TARGET_OUS, "outside REKEY_TARGET_OUS"),
        ]
    )
    assert not_checked_text(rep) == (
        "0 account(s) checked, 3 not checked (excluded 1, unreachable 1, outside target OUs 1)"
    )
    assert [n.account for n in rep.failed] == [PAYMENTS]  # only the unreachable make the command fail


def test_the_days_a_policy_fails_the_90_day_controls() -> None:
    assert empty_report([]).failing_days == 11  # active from 90 days old until the sweep on its 100th
    assert "11 day(s) each cycle" in failing_days_text(empty_report([]).policy)
    assert empty_report([], Preset.CIS).failing_days == 0
    assert failing_days_text(empty_report([], Preset.CIS).policy).startswith("no active key reaches 90 days")
