"""The reward: a function of (previous GameState, current GameState, action, new judgements).

Per-judgement values carry the signal; the old project's terms (combo increase, combo break, score
change, key spam, idle) are kept as weights, off or small by default. The batched form works on the
simulator's arrays; :func:`reward` applies the same formula to two :class:`GameState` copies (the
previous state is always a copy, never the same object mutated in place: the bug that left the old
project's reward without signal).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ppomania.game.score import GameState


@dataclass(frozen=True)
class RewardConfig:
    """Reward weights.

    :param judgement: reward per new judgement, in MAX, 300, 200, 100, 50, miss order.
        Default ``(1.0, 0.9, 0.5, 0.1, -0.3, -1.0)``.
    :param combo_increase: per point of combo gained. Default 0.
    :param combo_break: when a combo of at least ``combo_break_min`` is lost. Default -0.5.
    :param combo_break_min: smallest combo whose loss counts as a break. Default 10.
    :param score_change: per 1,000,000 points of ScoreV1 score gained. Default 0.
    :param key_spam: per key press that hit nothing (ghost tap). Default -0.05: small, because
        ghost taps are summed over keys while a hit pays once; at -0.3 the taps of an exploring
        7K policy outweighed its hits and it learned to press nothing. Taps that take a note too
        early are already paid for by their judgement (a miss or a 50).
    :param idle: per step with no key held. Default 0.
    """

    judgement: tuple[float, float, float, float, float, float] = (1.0, 0.9, 0.5, 0.1, -0.3, -1.0)
    combo_increase: float = 0.0
    combo_break: float = -0.5
    combo_break_min: int = 10
    score_change: float = 0.0
    key_spam: float = -0.05
    idle: float = 0.0

    def batched(
        self,
        prev_counts: np.ndarray,
        counts: np.ndarray,
        prev_combo: np.ndarray,
        combo: np.ndarray,
        prev_score: np.ndarray,
        score: np.ndarray,
        ghost_presses: np.ndarray,
        keys_held: np.ndarray,
    ) -> np.ndarray:
        """``(n,)`` float32 rewards from before/after arrays of ``n`` plays.

        :param prev_counts, counts: ``(n, 6)`` judgement counts.
        :param prev_combo, combo, prev_score, score: ``(n,)``.
        :param ghost_presses: ``(n,)`` presses this step that hit nothing.
        :param keys_held: ``(n,)`` keys held this step.
        """
        reward = (counts - prev_counts) @ np.asarray(self.judgement, dtype=np.float64)
        if self.combo_increase:
            reward += self.combo_increase * np.maximum(combo - prev_combo, 0)
        if self.combo_break:
            broke = (combo < prev_combo) & (prev_combo >= self.combo_break_min)
            reward += self.combo_break * broke
        if self.score_change:
            reward += self.score_change * (score - prev_score) / 1_000_000
        if self.key_spam:
            reward += self.key_spam * ghost_presses
        if self.idle:
            reward += self.idle * (keys_held == 0)
        return reward.astype(np.float32)


def reward(
    config: RewardConfig,
    previous: GameState,
    current: GameState,
    ghost_presses: int = 0,
    keys_held: int = 0,
) -> float:
    """The reward of one step of one play, from two :class:`GameState` copies."""
    if previous is current:
        raise ValueError("previous and current must be different GameState objects")
    values = config.batched(
        previous.counts[None, :],
        current.counts[None, :],
        np.array([previous.combo]),
        np.array([current.combo]),
        np.array([previous.score]),
        np.array([current.score]),
        np.array([ghost_presses]),
        np.array([keys_held]),
    )
    return float(values[0])
