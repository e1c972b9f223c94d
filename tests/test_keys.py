"""``KeySender``: bookkeeping before presses, exit hooks that release every key (fake controller)."""

from __future__ import annotations

import numpy as np
import pytest

from ppomania.live.keys import KeySender, release_everything


class Interrupted(Exception):
    """Stands in for a signal that lands while a key event is being sent."""


class FakeController:
    def __init__(self, sender_of=None, fail_on: object = None) -> None:
        self.events: list[tuple[str, object]] = []
        self.held_seen: list[bool] = []
        self.sender_of = sender_of
        self.fail_on = fail_on

    def press(self, key: object) -> None:
        sender = self.sender_of() if self.sender_of else None
        if sender is not None:
            self.held_seen.append(bool(sender.held[sender._keys.index(key)]))
        self.events.append(("press", key))
        if key == self.fail_on:
            raise Interrupted

    def release(self, key: object) -> None:
        self.events.append(("release", key))


def test_a_key_is_recorded_as_held_before_it_is_pressed():
    senders: list[KeySender] = []
    fake = FakeController(lambda: senders[0])
    senders.append(KeySender(("d", "f", "j", "k"), fake))
    senders[0].apply(np.array([1, 0, 1, 1], bool))
    assert fake.held_seen == [True, True, True]
    senders[0].close()


def test_a_press_interrupted_midway_is_still_released_at_exit():
    fake = FakeController(fail_on="j")
    sender = KeySender(("d", "f", "j", "k"), fake)
    with pytest.raises(Interrupted):
        sender.apply(np.array([1, 0, 1, 1], bool))
    assert sender.held.tolist() == [True, False, True, False]
    fake.events.clear()
    release_everything()
    assert {key for kind, key in fake.events if kind == "release"} >= {"d", "j"}
    assert not sender.held.any()
    sender.close()


def test_exit_hooks_release_every_bound_and_tapped_key_not_only_the_recorded_ones():
    fake = FakeController()
    sender = KeySender(("d", "f", "j", "k"), fake)
    sender.apply(np.array([0, 1, 0, 0], bool))
    sender.tap("`")
    sender.held[:] = False  # the bookkeeping lost track (a signal between press and record)
    fake.events.clear()
    release_everything()
    assert sorted(key for kind, key in fake.events if kind == "release") == sorted("dfjk`")
    assert all(kind == "release" for kind, _ in fake.events)
    sender.close()


def test_one_failing_release_does_not_stop_the_others():
    class Flaky(FakeController):
        def release(self, key: object) -> None:
            super().release(key)
            if key == "d":
                raise OSError("display gone")

    fake = Flaky()
    sender = KeySender(("d", "f"), fake)
    sender.release_every_key()
    assert fake.events == [("release", "d"), ("release", "f")]
    sender.close()
