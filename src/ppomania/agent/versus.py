"""The results table against humans: a model's play of each map beside the human replays of the
same map (count, best and median accuracy, median misses), as Markdown or JSON rows.

Pure: plays and replay counts in, rows and text out (``ppomania results`` does the finding and
reading). Accuracy is :func:`ppomania.game.score.accuracy` (ScoreV1, MAX = 300 = 300/300) for the
model and the humans alike, from their judgement counts.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ppomania.agent.evaluate import PlayResult
from ppomania.game.rules import Mods
from ppomania.game.score import accuracy
from ppomania.text import printable

#: Mods that change what is played (the map's timing or hit windows): a human replay is compared
#: with the model's play only when it has the same of these.
DIFFICULTY_MODS = Mods.EASY | Mods.HARD_ROCK | Mods.DOUBLE_TIME | Mods.HALF_TIME

MISS = 5  # index of the misses in judgement counts (MAX, 300, 200, 100, 50, miss)

HEADER = (
    "map",
    "stars",
    "keys",
    "LN %",
    "acc %",
    "misses",
    "pp",
    "human plays",
    "best human acc %",
    "median human acc %",
    "median human misses",
    "misses vs median human",
)


def same_difficulty(replay_mods: Mods, mods: Mods) -> bool:
    """Whether a replay with ``replay_mods`` played the map as a play with ``mods`` does."""
    return Mods(replay_mods) & DIFFICULTY_MODS == Mods(mods) & DIFFICULTY_MODS


@dataclass(frozen=True)
class HumanStats:
    """The human replays of one map: how many, best and median accuracy (0–1), median misses."""

    count: int
    best_accuracy: float
    median_accuracy: float
    median_misses: float

    @classmethod
    def of(cls, counts: Sequence[np.ndarray | Sequence[int]]) -> HumanStats | None:
        """Stats of replays' judgement counts (``Replay.counts`` order); None for no replays."""
        if not counts:
            return None
        accuracies = [accuracy(c) for c in counts]
        return cls(
            count=len(counts),
            best_accuracy=max(accuracies),
            median_accuracy=statistics.median(accuracies),
            median_misses=statistics.median(int(c[MISS]) for c in counts),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "best_accuracy": round(100 * self.best_accuracy, 4),
            "median_accuracy": round(100 * self.median_accuracy, 4),
            "median_misses": self.median_misses,
        }


@dataclass(frozen=True)
class VersusRow:
    """One map: the model's play and the human stats (None: no human replay of it)."""

    play: PlayResult
    humans: HumanStats | None = None

    @property
    def long_note_share(self) -> float:
        """Share (0–1) of the map's objects that are holds."""
        beatmap = self.play.beatmap
        return beatmap.n_holds / beatmap.n_objects if beatmap.n_objects else 0.0

    @property
    def misses(self) -> int:
        return int(self.play.counts[MISS])

    @property
    def misses_vs_humans(self) -> float | None:
        """The model's misses minus the median human's (negative: fewer); None without humans."""
        return None if self.humans is None else self.misses - self.humans.median_misses

    def as_dict(self) -> dict[str, Any]:
        """``eval --json``'s object of the play, with the key count, long-note share (percent),
        the human stats and the misses against the median human."""
        result = self.play.as_dict()
        result.update(
            keys=self.play.beatmap.keys,
            long_note_share=round(100 * self.long_note_share, 2),
            humans=self.humans.as_dict() if self.humans is not None else None,
            misses_vs_median_human=self.misses_vs_humans,
        )
        return result

    def cells(self) -> list[str]:
        play, humans = self.play, self.humans
        name = play.beatmap.display_name + (" (failed)" if play.failed else "")
        cells = [
            _markdown_text(name),
            f"{play.stars:.2f}" if play.stars is not None else "",
            f"{play.beatmap.keys}K",
            f"{100 * self.long_note_share:.0f}",
            f"{100 * play.accuracy:.2f}",
            str(self.misses),
            f"{play.pp:.0f}" if play.pp is not None else "",
        ]
        if humans is None:
            return [*cells, "", "", "", "", ""]
        return [
            *cells,
            str(humans.count),
            f"{100 * humans.best_accuracy:.2f}",
            f"{100 * humans.median_accuracy:.2f}",
            f"{humans.median_misses:g}",
            f"{self.misses_vs_humans:+g}",
        ]


def markdown_table(rows: Sequence[VersusRow]) -> str:
    """A Markdown table, one line per row (text columns left-aligned, numbers right-aligned)."""
    align = ["---", *["--:"] * (len(HEADER) - 1)]
    lines = [HEADER, align, *(row.cells() for row in rows)]
    return "\n".join("| " + " | ".join(line) + " |" for line in lines)


def _markdown_text(text: str) -> str:
    """Text for a table cell: control characters escaped; ``|``, emphasis and HTML quoted."""
    return "".join("\\" + c if c in "\\|*_`<" else c for c in printable(text))
