"""The state rekey keeps on a user's secret (rekey.domain.secret_state), written and read back
without AWS: what rekey writes it reads back as it meant, and what a person edits by hand is
ignored, never trusted."""

from __future__ import annotations

from datetime import UTC, date, datetime

from rekey.domain import secret_state as ss
from rekey.domain.models import Intent

AT = datetime(2026, 12, 6, 4, 30, tzinfo=UTC)


def test_an_intent_written_is_read_back_as_it_was_meant() -> None:
    tags = ss.intent_tags(AT, ["AKIAB", "AKIAA"], "f2b1c9e0-0000-4000-8000-000000000001", "AKIAA")

    state = ss.listed_state({}, tags)

    assert state.intent == Intent(AT, frozenset({"AKIAA", "AKIAB"}), "f2b1c9e0-0000-4000-8000-000000000001")
    assert state.previous_key_id == "AKIAA"
    first = ss.listed_state({}, ss.intent_tags(AT, [], None, None))
    assert first.intent == Intent(AT, frozenset(), None) and first.previous_key_id is None


def test_a_version_names_its_key_by_id_or_by_label_and_a_stub_names_none() -> None:
    stages = {
        ss.version_token("AKIAOLD"): [ss.PREVIOUS],
        "9a0c": [ss.CURRENT, ss.PENDING, ss.version_token("AKIANEW")],  # Secrets Manager's version
        "77ee": [ss.PENDING],  # the empty version a rotation begins with
    }

    state = ss.listed_state(stages, {})

    assert (state.current_key_id, state.previous_key_id, state.pending_key_id) == ("AKIANEW", "AKIAOLD", None)
    assert ss.staged(stages, ss.PENDING) == "77ee"  # pending only where it is not current


def test_values_edited_by_hand_are_ignored() -> None:
    tags = {
        ss.INTENT_AT_TAG: "yesterday",
        ss.PAUSED_UNTIL_TAG: "2099-13-01",
        ss.IN_USE_WARNED_TAG: "AKIAX not-a-date",
    }

    state = ss.listed_state({"v": [ss.CURRENT]}, tags)

    assert (state.intent, state.paused_until, state.in_use_warned) == (None, None, None)
    assert state.current_key_id is None and state.current_unread  # someone else's version: read it


def test_revocations_keep_the_latest_ten_and_warnings_their_day() -> None:
    revoked = frozenset(f"AKIA{i:02d}" for i in range(10))

    value = ss.revoked_value("AKIANEW", revoked)

    assert len(value.split()) == ss.MAX_REVOKED and value.split()[-1] == "AKIANEW"
    warned = ss.listed_state({}, {ss.IN_USE_WARNED_TAG: ss.warned_value("AKIAX", date(2026, 12, 6))})
    assert warned.in_use_warned == ("AKIAX", date(2026, 12, 6))


def test_a_value_that_cannot_serve_a_consumer_says_why() -> None:
    assert ss.parse_value('{"AccessKey": "AKIAX", "SecretKey": "s"}') == ("AKIAX", None)
    assert ss.parse_value("not json")[1] == "the secret's current version is not JSON"
    assert "no AccessKey or no SecretKey" in str(ss.parse_value('{"AccessKey": "AKIAX"}')[1])
    assert ss.parse_value(None)[0] is None
