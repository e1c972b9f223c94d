"""ScoreV1 score, accuracy, grade, combo and health, and the :class:`GameState` they make up.

How sure each rule is (see ``specs/mania-rules.md``):

- ScoreV1 base + bonus, the bonus applied after its own judgement's change, ``round(Σbase) +
  round(Σbonus)``, judgements of one millisecond in object order: checked against replays (exact
  on all 30 MAGiCVLGiRL replays and on He He He, whose score column order leaves 33 points off).
- Accuracy (V1) and grades: osu! wiki.
- Combo: +1 per judged object, reset by a miss or a hold break. Hold combo ticks are cosmetic and not
  modelled, so :attr:`GameState.max_combo` is lower than stable's on maps with holds.
- Health: lazer's port of stable's (tagged "broken") mania health processor. Its HpMultiplierNormal
  comes from a drain-tuning loop that is not reproduced; with 1, 13 of the 63 passing ScoreV1 replays
  in ``tests/data`` would fail, so healing is scaled by :data:`HP_HEAL_MULTIPLIER`, the round value
  at which all of them pass (3.0 is the smallest that does) [calibrated, unverified]. Hold-note
  regeneration is not modelled.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field, replace

import numpy as np

from ppomania.game.rules import JUDGEMENT_LABELS, Judgement, Mods

# ScoreV1 tables in Judgement order (MAX, 300, 200, 100, 50, miss); a miss's punishment is
# infinite. float64 arrays: the simulator's numba kernels use them as frozen constants.
HIT_VALUE = np.array([320.0, 300.0, 200.0, 100.0, 50.0, 0.0])
HIT_BONUS_VALUE = np.array([32.0, 32.0, 16.0, 8.0, 4.0, 0.0])
HIT_BONUS = np.array([2.0, 1.0, 0.0, 0.0, 0.0, 0.0])
HIT_PUNISHMENT = np.array([0.0, 0.0, 8.0, 24.0, 44.0, np.inf])
MAX_SCORE = 1_000_000
#: Scale of health gains (stable's HpMultiplierNormal, calibrated on the replays in the data).
HP_HEAL_MULTIPLIER = 3.5
#: Most bookings of one millisecond that :class:`ScoreProcessor` puts in object order.
SAME_MS_LIMIT = 32
#: Booking code of a hold break (a combo reset without a judgement).
COMBO_BREAK = -1


class Phase(enum.IntEnum):
    """Where the game is, as the state readers report it."""

    MENU = 0
    PLAYING = 1
    PAUSED = 2
    FAILED = 3
    RESULTS = 4


def score_multiplier(mods: Mods) -> float:
    """ScoreV1 ModMultiplier: EZ, NF and HT halve the score each."""
    multiplier = 1.0
    for flag in (Mods.EASY, Mods.NO_FAIL, Mods.HALF_TIME):
        if mods & flag:
            multiplier *= 0.5
    return multiplier


def score_divider(mods: Mods) -> float:
    """ScoreV1 ModDivider, which divides the bonus punishment: HR 1.08, DT/NC 1.1, FI/HD/FL 1.06."""
    divider = 1.0
    if mods & Mods.HARD_ROCK:
        divider *= 1.08
    if mods & (Mods.DOUBLE_TIME | Mods.NIGHTCORE):
        divider *= 1.1
    if mods & (Mods.FADE_IN | Mods.HIDDEN | Mods.FLASHLIGHT):
        divider *= 1.06
    return divider


def accuracy(counts: np.ndarray | list[int] | tuple[int, ...]) -> float:
    """ScoreV1 accuracy in [0, 1] from counts in :class:`Judgement` order (1.0 with no judgement)."""
    c = [int(x) for x in counts]
    total = sum(c)
    if total == 0:
        return 1.0
    return (300 * (c[0] + c[1]) + 200 * c[2] + 100 * c[3] + 50 * c[4]) / (300 * total)


def grade(counts: np.ndarray | list[int] | tuple[int, ...], mods: Mods = Mods.NONE) -> str:
    """Grade name as in the replay hash: ``X``/``XH``, ``S``/``SH``, ``A``, ``B``, ``C``, ``D``."""
    silver = bool(mods & (Mods.HIDDEN | Mods.FADE_IN | Mods.FLASHLIGHT))
    c = [int(x) for x in counts]
    if sum(c) and not any(c[2:]):
        return "XH" if silver else "X"
    acc = accuracy(c)
    if acc > 0.95:
        return "SH" if silver else "S"
    if acc > 0.9:
        return "A"
    if acc > 0.8:
        return "B"
    if acc > 0.7:
        return "C"
    return "D"


def health_change(judgement: Judgement, hp: float) -> float:
    """Change of health in [0, 1] for one judgement at HPDrainRate ``hp``."""
    if judgement == Judgement.MISS:
        return -(hp + 1) * 0.0075
    if judgement == Judgement.MEH:
        return -(hp + 1) * 0.0016
    if judgement == Judgement.OK:
        return 0.0
    if judgement == Judgement.GOOD:
        return HP_HEAL_MULTIPLIER * (0.004 - 0.0004 * hp)
    if judgement == Judgement.GREAT:
        return HP_HEAL_MULTIPLIER * (0.005 - 0.0005 * hp)
    return HP_HEAL_MULTIPLIER * (0.0055 - 0.0005 * hp)


@dataclass
class GameState:
    """What tosu/gosumemory report about a play; the simulator computes it exactly.

    ``counts`` is in :class:`Judgement` order (MAX, 300, 200, 100, 50, miss). ``hp`` is in [0, 1].
    """

    time_ms: float = 0.0
    phase: Phase = Phase.MENU
    combo: int = 0
    max_combo: int = 0
    score: int = 0
    accuracy: float = 1.0
    counts: np.ndarray = field(default_factory=lambda: np.zeros(6, dtype=np.int64))
    hp: float = 1.0

    def copy(self) -> GameState:
        """A copy that shares no array with this state."""
        return replace(self, counts=self.counts.copy())

    @property
    def n_judged(self) -> int:
        return int(self.counts.sum())

    def as_dict(self) -> dict[str, float | int | str]:
        """Counts under their osu! labels plus score, accuracy (percent) and combo."""
        result: dict[str, float | int | str] = {
            label: int(n) for label, n in zip(JUDGEMENT_LABELS, self.counts)
        }
        result.update(
            score=int(self.score),
            accuracy=round(100 * self.accuracy, 4),
            max_combo=int(self.max_combo),
            grade=grade(self.counts),
        )
        return result


class ScoreProcessor:
    """Applies judgements in order and keeps the ScoreV1 state of one play.

    :param n_objects: hit objects in the map (a hold counts once).
    :param hp_drain: the map's HPDrainRate.
    :param mods: mods of the play (multiplier, divider, NoFail).

    The bonus, combo and health depend on the order of judgements. Judgements (and hold breaks)
    booked in the same millisecond are counted in object order, whatever order they arrive in:
    each frame stable walks its hit objects in list order, and this order makes He He He's score
    exact where column order is 33 points off. A booking earlier than the last one joins the
    last one's millisecond (a judgement cannot be booked in the past). At most
    :data:`SAME_MS_LIMIT` bookings of one millisecond are reordered; any more (only stacked notes
    make them) are counted as they come.
    """

    def __init__(self, n_objects: int, hp_drain: float = 5.0, mods: Mods = Mods.NONE) -> None:
        self.n_objects = max(1, n_objects)
        self.hp_drain = hp_drain
        self.mods = mods
        self._per_object = MAX_SCORE * score_multiplier(mods) * 0.5 / self.n_objects
        self._divider = score_divider(mods)
        self.state = GameState(phase=Phase.PLAYING)
        self._bonus = 100.0
        self._base_sum = 0.0
        self._bonus_sum = 0.0
        self._batch_time = -math.inf
        self._batch: list[tuple[int, int]] = []
        self._saved: tuple[float, float, float, GameState] = self._save()

    def apply(
        self, judgement: Judgement, time_ms: float | None = None, order: int | None = None
    ) -> None:
        """Count one judgement: counts, combo, bonus, score, accuracy, health.

        :param time_ms: when it is booked; None counts it at once, unordered. Default None.
        :param order: the object's rank in ``(start, column)`` order (its index in a
            :class:`~ppomania.game.beatmap.Beatmap`); None counts it at once. Default None.
        """
        self._book(int(judgement), time_ms, order)

    def break_combo(self, time_ms: float | None = None, order: int | None = None) -> None:
        """A hold break resets combo without a judgement (booked like :meth:`apply`)."""
        self._book(COMBO_BREAK, time_ms, order)

    def _save(self) -> tuple[float, float, float, GameState]:
        return self._bonus, self._base_sum, self._bonus_sum, self.state.copy()

    def _book(self, item: int, time_ms: float | None, order: int | None) -> None:
        same_ms = (
            time_ms is not None
            and order is not None
            and time_ms <= self._batch_time
            and len(self._batch) < SAME_MS_LIMIT
        )
        if not same_ms:
            self._saved = self._save()
            self._batch = []
            self._batch_time = -math.inf if time_ms is None or order is None else time_ms
        position = len(self._batch)
        while position and order is not None and self._batch[position - 1][0] > order:
            position -= 1
        self._batch.insert(position, (0 if order is None else order, item))
        if position == len(self._batch) - 1:
            self._count(item)
        else:
            self._bonus, self._base_sum, self._bonus_sum, saved_state = self._saved
            # In place: callers keep references to ``state``.
            self.state.__dict__.update(saved_state.copy().__dict__)
            for _, batched in self._batch:
                self._count(batched)
        if time_ms is not None:
            self.state.time_ms = max(self.state.time_ms, time_ms, self._batch_time)

    def _count(self, j: int) -> None:
        state = self.state
        if j == COMBO_BREAK:
            state.combo = 0
            return
        state.counts[j] += 1
        # float(): Python floats (same values) are faster than numpy scalars here.
        bonus = self._bonus + float(HIT_BONUS[j]) - float(HIT_PUNISHMENT[j]) / self._divider
        self._bonus = min(100.0, max(0.0, bonus))
        self._base_sum += self._per_object * float(HIT_VALUE[j]) / 320
        self._bonus_sum += (
            self._per_object * float(HIT_BONUS_VALUE[j]) * math.sqrt(self._bonus) / 320
        )
        state.score = round(self._base_sum) + round(self._bonus_sum)
        if j == Judgement.MISS:
            state.combo = 0
        else:
            state.combo += 1
            state.max_combo = max(state.max_combo, state.combo)
        state.accuracy = accuracy(state.counts)
        state.hp = min(1.0, max(0.0, state.hp + health_change(Judgement(j), self.hp_drain)))
        if state.hp <= 0 and not self.mods & Mods.NO_FAIL:
            state.phase = Phase.FAILED
