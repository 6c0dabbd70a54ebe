"""The soak's judge: each action done is paired with its announcement within a day."""

from __future__ import annotations

from typing import Any

import pytest

from tests.reliability.soak import Deliveries, Done, main, match


def note(event: str, key_id: str | None = None, new_key_id: str | None = None, **kw: Any) -> dict[str, Any]:
    return {"event": event, "key_id": key_id, "new_key_id": new_key_id, "notification_id": kw.pop("id", event), **kw}


def test_an_action_announced_the_same_day_or_the_next_is_announced() -> None:
    actions = [Done(3, "u", "rotated", "K2"), Done(10, "u", "deactivated", "K1"), Done(20, "u", "deleted", "K1")]
    notes = [
        (3, note("rotated", "K1", "K2", id="r")),
        (11, note("deactivated", "K1", id="d", late=True)),
        (20, note("deleted", "K1", id="x")),
    ]
    tally = match(actions, notes)
    assert (tally.announced, tally.late, tally.unannounced) == (3, 1, [])
    assert tally.done == {"rotated": 1, "deactivated": 1, "deleted": 1}


def test_an_action_never_announced_or_announced_too_late_or_about_another_key_is_unannounced() -> None:
    actions = [Done(3, "u", "rotated", "K2"), Done(10, "u", "deactivated", "K1"), Done(20, "u", "deleted", "K1")]
    notes = [
        (3, note("rotated", "K2", "K3", id="r")),  # the rotation that replaced K2, not the one that made it
        (12, note("deactivated", "K1", id="d")),  # two days later
        (19, note("deleted", "K1", id="x")),  # before it was done: another key's day, another fact
    ]
    assert match(actions, notes).unannounced == actions


def test_duplicates_count_once_and_other_events_are_ignored() -> None:
    actions = [Done(1, "u", "deleted", "K1")]
    notes = [(1, note("deleted", "K1", id="x")), (1, note("deleted", "K1", id="x")), (1, note("blocked", "K1"))]
    tally = match(actions, notes)
    assert (tally.announced, tally.late, tally.unannounced) == (1, 0, [])
    # a late duplicate of an announcement made in time does not make the action late
    assert match(actions, [(1, note("deleted", "K1", id="a")), (2, note("deleted", "K1", id="b", late=True))]).late == 0


def test_a_delivered_users_old_key_is_retired_on_proof_unless_its_pickup_was_announced_unconfirmed() -> None:
    retired = [
        Done(10, "u", "deactivated", "K1"),  # its replacement was picked up
        Done(20, "u", "deactivated", "K2"),  # at its deadline, announced
        Done(30, "v", "deactivated", "K9"),  # a user without destinations: neither
        Done(40, "u", "deleted", "K1"),
    ]
    notes = [
        note("delivered", "K2", id="a"),
        note("delivered", "K2", id="a"),  # a duplicate counts once
        note("delivery-failed", "K3", id="b"),
        note("pickup-unconfirmed", "K2", id="c"),
    ]
    deliveries = Deliveries()
    deliveries.count(notes, retired, {"u"})
    assert (deliveries.delivered, deliveries.failed, deliveries.on_proof, deliveries.at_deadline) == (1, 1, 1, 1)


def test_the_soaks_options_are_checked() -> None:
    with pytest.raises(SystemExit):
        main(["--outage-days", "-1"])
