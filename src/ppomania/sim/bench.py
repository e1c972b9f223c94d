"""Throughput and memory of the simulator behind the RL interface (``ppomania bench sim``).

What is measured: env steps per second of ``env.step(actions)`` with random actions drawn in
advance (so the random generator is not timed), for a batched env at several ``n_envs`` and for the
same game as single envs in a baseline vectorizer; and the memory one env adds, as the sum of
``nbytes`` of the per-env arrays reachable from the env (simulator state, frame stack, step buffers;
the packed maps, shared by every env, are counted apart).

The envs come from factories, so this module needs nothing above the simulator:
:mod:`ppomania.cli.bench` passes ``ManiaVecEnv`` and SB3's ``DummyVecEnv`` of ``ManiaEnv``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from ppomania.game.beatmap import Beatmap
from ppomania.sim.packed import PackedMaps

#: Env counts of the batched measurement; :data:`COMPARE_N_ENVS` is the one compared.
N_ENVS = (1, 16, 64, 256)
COMPARE_N_ENVS = 64


class SteppableEnv(Protocol):
    """What the benchmark needs of a vectorized env (an SB3 ``VecEnv`` has it)."""

    num_envs: int

    def reset(self) -> Any: ...

    def step(self, actions: np.ndarray) -> Any: ...


def random_actions(
    n_envs: int, keys: int, kind: str = "multibinary", pool: int = 64, seed: int = 0
) -> list[np.ndarray]:
    """``pool`` batches of uniformly random actions for ``n_envs`` envs of ``keys`` keys.

    :param kind: ``"multibinary"`` (``(n, K)`` int8 of 0/1) or ``"discrete"`` (``(n,)`` int64 in
        ``[0, 2**K)``).
    """
    rng = np.random.default_rng(seed)
    if kind == "discrete":
        return [rng.integers(0, 2**keys, size=n_envs) for _ in range(pool)]
    return [rng.integers(0, 2, size=(n_envs, keys), dtype=np.int8) for _ in range(pool)]


def steps_per_second(
    env: SteppableEnv,
    actions: Sequence[np.ndarray],
    seconds: float = 2.0,
    warmup_steps: int = 20,
) -> float:
    """Env steps per second (``num_envs`` per ``step`` call) over at least ``seconds`` of stepping.

    The env is reset, stepped ``warmup_steps`` times untimed (JIT compilation, caches), then timed
    with :func:`time.perf_counter` in chunks of calls until ``seconds`` have passed.
    """
    env.reset()
    n_actions = len(actions)
    for i in range(warmup_steps):
        env.step(actions[i % n_actions])
    calls = 0
    chunk = 8
    start = time.perf_counter()
    elapsed = 0.0
    while elapsed < seconds:
        for _ in range(chunk):
            env.step(actions[calls % n_actions])
            calls += 1
        elapsed = time.perf_counter() - start
    return calls * env.num_envs / elapsed


def per_env_array_bytes(root: object, n_envs: int) -> tuple[float, int]:
    """Memory of the arrays reachable from ``root``: ``(bytes per env, shared bytes)``.

    Walks the attributes of ``root`` and of the ppomania objects, lists, tuples and dicts under it.
    An array (never a view, whose memory belongs to its base) whose first dimension is ``n_envs``
    is per-env state; :class:`PackedMaps` and :class:`Beatmap` arrays are shared by all envs
    (the maps are counted once per object holding them). Other arrays (per-map
    tables) are left out. Use an ``n_envs`` that no map count or object count equals.
    """
    seen: set[int] = set()
    per_env = 0
    shared = 0

    def visit(obj: object, in_maps: bool) -> None:
        nonlocal per_env, shared
        if id(obj) in seen:
            return
        seen.add(id(obj))
        if isinstance(obj, np.ndarray):
            if obj.base is not None:
                return
            if in_maps:
                shared += obj.nbytes
            elif obj.ndim and obj.shape[0] == n_envs:
                per_env += obj.nbytes
        elif isinstance(obj, list | tuple):
            for item in obj:
                visit(item, in_maps)
        elif isinstance(obj, dict):
            for item in obj.values():
                visit(item, in_maps)
        elif type(obj).__module__.startswith("ppomania") and hasattr(obj, "__dict__"):
            maps = in_maps or isinstance(obj, PackedMaps | Beatmap)
            for item in vars(obj).values():
                visit(item, maps)

    visit(root, False)
    return per_env / n_envs, shared


@dataclass
class SimBenchReport:
    """Result of :func:`run_sim_bench`."""

    by_n_envs: dict[int, float]
    dummy_steps_per_s: float
    bytes_per_env: float
    shared_map_bytes: int
    seconds: float
    compare_n_envs: int = COMPARE_N_ENVS
    notes: dict[str, str] = field(default_factory=dict)

    @property
    def batched_steps_per_s(self) -> float:
        return self.by_n_envs[self.compare_n_envs]

    @property
    def ratio(self) -> float:
        return self.batched_steps_per_s / self.dummy_steps_per_s

    def as_json(self) -> dict[str, Any]:
        """``batched_steps_per_s`` (at :attr:`compare_n_envs`), ``dummy_steps_per_s``, ``ratio``,
        ``bytes_per_env`` and ``by_n_envs`` (steps/s by env count)."""
        return {
            "batched_steps_per_s": round(self.batched_steps_per_s, 1),
            "dummy_steps_per_s": round(self.dummy_steps_per_s, 1),
            "ratio": round(self.ratio, 2),
            "bytes_per_env": round(self.bytes_per_env, 1),
            "by_n_envs": {str(n): round(v, 1) for n, v in self.by_n_envs.items()},
        }

    def lines(self) -> list[str]:
        """The report as text."""
        out = [f"{key}: {value}" for key, value in self.notes.items()]
        out.append(f"{'n_envs':>8}  {'steps/s':>12}")
        for n, value in self.by_n_envs.items():
            out.append(f"{n:>8}  {value:>12,.0f}")
        n = self.compare_n_envs
        out.append(f"{'dummy ' + str(n):>8}  {self.dummy_steps_per_s:>12,.0f}  (DummyVecEnv)")
        out.append(f"ratio batched({n}) / dummy({n}): {self.ratio:.1f}x")
        out.append(
            f"memory per env: {self.bytes_per_env:,.0f} bytes (sum of nbytes of the per-env "
            f"arrays: sim state, frame stack, step buffers); maps, shared: "
            f"{self.shared_map_bytes:,} bytes"
        )
        return out


def run_sim_bench(
    make_batched: Callable[[int], SteppableEnv],
    make_dummy: Callable[[int], SteppableEnv],
    keys: int,
    n_envs: Sequence[int] = N_ENVS,
    compare_n_envs: int = COMPARE_N_ENVS,
    seconds: float = 2.0,
    action_kind: str = "multibinary",
    progress: Callable[[str], None] | None = None,
) -> SimBenchReport:
    """Time the batched env at each of ``n_envs`` and the single-env baseline at
    ``compare_n_envs``, with the same random actions; measure the batched env's memory.

    :param make_batched: ``n -> env`` of ``n`` envs stepped together.
    :param make_dummy: ``n -> env`` of ``n`` single envs in a baseline vectorizer.
    :param keys: key count (for the random actions).
    :param seconds: timed stepping per measurement. Default 2.
    :param progress: called with a line after each measurement. Default silent.
    """
    sizes = list(dict.fromkeys([*n_envs, compare_n_envs]))
    by_n: dict[int, float] = {}
    bytes_per_env, shared = 0.0, 0
    for n in sizes:
        env = make_batched(n)
        by_n[n] = steps_per_second(env, random_actions(n, keys, action_kind), seconds)
        if n == compare_n_envs:
            bytes_per_env, shared = per_env_array_bytes(env, n)
        if progress:
            progress(f"batched n_envs={n}: {by_n[n]:,.0f} steps/s")
    dummy = make_dummy(compare_n_envs)
    dummy_rate = steps_per_second(dummy, random_actions(compare_n_envs, keys, action_kind), seconds)
    if progress:
        progress(f"dummy n_envs={compare_n_envs}: {dummy_rate:,.0f} steps/s")
    return SimBenchReport(
        by_n_envs={n: by_n[n] for n in sorted(by_n)},
        dummy_steps_per_s=dummy_rate,
        bytes_per_env=bytes_per_env,
        shared_map_bytes=shared,
        seconds=seconds,
        compare_n_envs=compare_n_envs,
    )
