"""Result plots (matplotlib, Agg, no pyplot state): hit errors of a play over time, their histogram
with the judgement counts, and a run's learning curves from its TensorBoard event files."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ppomania.agent.colours import JUDGEMENT_COLOURS
from ppomania.agent.evaluate import PlayResult, sanitize_name
from ppomania.game.rules import JUDGEMENT_LABELS, HitWindows, Judgement, hit_windows

#: Learning-curve panels: title and the TensorBoard scalar tags plotted in it, if present.
CURVE_PANELS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("accuracy", ("eval/accuracy", "rollout/accuracy")),
    ("reward", ("rollout/ep_rew_mean",)),
)

_COLOURS = [tuple(c / 255 for c in rgb) for rgb in JUDGEMENT_COLOURS]
_BAND_ALPHA = 0.35


def _save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=100)
    return path


def _bands(w: HitWindows) -> list[tuple[Judgement, float, float]]:
    """Non-overlapping error ranges of each judgement, as osu!'s results screen shades them.

    Late presses at or past the OK edge hit nothing, so 50 and miss have an early side only.
    """
    bands = [(Judgement.MAX, -w.max, w.max)]
    inner = w.max
    for judgement, edge in (
        (Judgement.GREAT, w.great),
        (Judgement.GOOD, w.good),
        (Judgement.OK, w.ok),
    ):
        bands += [(judgement, -edge, -inner), (judgement, inner, edge)]
        inner = edge
    bands += [(Judgement.MEH, -w.meh, -w.ok), (Judgement.MISS, -w.miss, -w.meh)]
    return bands


def _title(play: PlayResult) -> str:
    return f"{play.beatmap.display_name}  +{play.mods.acronyms}  {100 * play.accuracy:.2f}% {play.grade}"


def _hit_errors(play: PlayResult) -> np.ndarray:
    """Hit errors of the objects hit (not missed): what osu!'s unstable rate is taken over."""
    return np.array(
        [
            r.hit_error_ms
            for r in play.results
            if r.hit_error_ms is not None and r.judgement != Judgement.MISS
        ],
        dtype=np.float64,
    )


def plot_hit_errors(play: PlayResult, path: str | Path) -> Path:
    """Hit error over time, one row per column, on the judgement windows' bands; misses as red ×
    (at their error when pressed early, on the top edge when never pressed). Returns ``path``."""
    keys = play.beatmap.keys
    w = hit_windows(play.beatmap.od, play.mods)
    limit = w.miss + 12
    fig = Figure(figsize=(12, 1.4 * keys + 1.4))
    axes = fig.subplots(keys, 1, sharex=True, sharey=True, squeeze=False)[:, 0]
    for column, ax in enumerate(axes):
        for judgement, low, high in _bands(w):
            ax.axhspan(low, high, color=_COLOURS[judgement], alpha=_BAND_ALPHA, lw=0)
        hits = [r for r in play.results if r.column == column]
        pressed = [r for r in hits if r.judgement != Judgement.MISS and r.hit_error_ms is not None]
        missed = [r for r in hits if r.judgement == Judgement.MISS]
        ax.scatter(
            [r.time_ms / 1000 for r in pressed],
            [r.hit_error_ms for r in pressed],
            s=6,
            color="black",
            zorder=3,
        )
        ax.scatter(
            [r.time_ms / 1000 for r in missed],
            [limit - 8 if r.hit_error_ms is None else r.hit_error_ms for r in missed],
            s=30,
            marker="x",
            color=_COLOURS[Judgement.MISS],
            zorder=4,
        )
        ax.axhline(0, color="black", lw=0.5)
        ax.set_ylim(-limit, limit)
        ax.set_ylabel(f"col {column + 1}\nerror (ms)")
    axes[-1].set_xlabel("map time (s)")
    handles = [Patch(color=_COLOURS[j], alpha=_BAND_ALPHA, label=j.label) for j in Judgement]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize="small")
    fig.suptitle(f"hit errors (early < 0 < late)   {_title(play)}", x=0.01, ha="left")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return _save(fig, path)


def plot_judgement_histogram(play: PlayResult, path: str | Path) -> Path:
    """Histogram of hit errors (stacked by judgement, window edges dotted, mean and unstable rate)
    beside the count of each judgement. Returns ``path``."""
    w = hit_windows(play.beatmap.od, play.mods)
    fig = Figure(figsize=(12, 4.5))
    hist_ax, count_ax = fig.subplots(1, 2, gridspec_kw={"width_ratios": (2, 1)})
    bins = np.arange(-w.miss - 2, w.ok + 4, 2)
    groups = [
        [r.hit_error_ms for r in play.results if r.judgement == j and r.hit_error_ms is not None]
        for j in Judgement
    ]
    # stepfilled: one polygon per judgement, not one patch per bin (10x faster to draw)
    hist_ax.hist(
        groups,
        bins=bins,
        stacked=True,
        histtype="stepfilled",
        color=_COLOURS,
        label=JUDGEMENT_LABELS,
    )
    for x in (-w.miss, -w.meh, -w.ok, -w.good, -w.great, -w.max, w.max, w.great, w.good, w.ok):
        hist_ax.axvline(x, color="grey", ls=":", lw=0.8)
    errors = _hit_errors(play)
    if errors.size:
        hist_ax.set_title(
            f"mean {errors.mean():+.1f} ms   unstable rate {10 * errors.std():.1f}",
            fontsize="medium",
        )
    hist_ax.set_xlabel("hit error (ms), early < 0 < late")
    hist_ax.set_ylabel("objects")
    hist_ax.legend(fontsize="small")
    bars = count_ax.bar(JUDGEMENT_LABELS, play.counts, color=_COLOURS, edgecolor="black", lw=0.5)
    count_ax.bar_label(bars, [str(int(n)) for n in play.counts])
    count_ax.set_title("judgements", fontsize="medium")
    count_ax.margins(y=0.15)
    fig.suptitle(_title(play), x=0.01, ha="left")
    fig.tight_layout()
    return _save(fig, path)


def write_eval_plots(plays: Sequence[PlayResult], out_dir: str | Path) -> list[Path]:
    """Write ``<map>_hit_errors.png`` and ``<map>_histogram.png`` for every play into ``out_dir``
    (created; ``-2``, ``-3``… added to repeated map names). Returns the paths written."""
    out = Path(out_dir)
    written: list[Path] = []
    seen: dict[str, int] = {}
    for play in plays:
        stem = sanitize_name(play.beatmap.display_name)
        seen[stem] = seen.get(stem, 0) + 1
        if seen[stem] > 1:
            stem = f"{stem}-{seen[stem]}"
        written.append(plot_hit_errors(play, out / f"{stem}_hit_errors.png"))
        written.append(plot_judgement_histogram(play, out / f"{stem}_histogram.png"))
    return written


def read_scalars(
    run_dir: str | Path, tags: Sequence[str]
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{tag: (steps, values)}`` of the ``tags`` found in the TensorBoard event files under
    ``run_dir`` (or in that one file), merged across files in step order (the last write of a
    step wins, as when a run was resumed).

    :raises FileNotFoundError: when there is no event file.
    """
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_dir = Path(run_dir)
    files = [run_dir] if run_dir.is_file() else sorted(run_dir.rglob("events.out.tfevents.*"))
    if not files:
        raise FileNotFoundError(f"{run_dir}: no TensorBoard event files (events.out.tfevents.*)")
    merged: dict[str, dict[int, tuple[float, float]]] = {}
    for file in files:
        accumulator = EventAccumulator(str(file), size_guidance={"scalars": 0})
        accumulator.Reload()
        for tag in set(tags) & set(accumulator.Tags()["scalars"]):
            points = merged.setdefault(tag, {})
            for event in accumulator.Scalars(tag):
                if event.step not in points or event.wall_time >= points[event.step][0]:
                    points[event.step] = (event.wall_time, event.value)
    result = {}
    for tag, points in merged.items():
        steps = np.array(sorted(points), dtype=np.int64)
        result[tag] = (steps, np.array([points[s][1] for s in steps.tolist()], dtype=np.float64))
    return result


def plot_learning_curves(run_dir: str | Path, path: str | Path) -> Path:
    """Accuracy and reward against training steps, from the run's TensorBoard scalars
    (:data:`CURVE_PANELS`: whichever exist). Accuracies in [0, 1] are shown in percent.

    :raises FileNotFoundError: no event file; :raises ValueError: none of the tags.
    """
    wanted = [tag for _, tags in CURVE_PANELS for tag in tags]
    scalars = read_scalars(run_dir, wanted)
    panels = [(title, [t for t in tags if t in scalars]) for title, tags in CURVE_PANELS]
    panels = [(title, tags) for title, tags in panels if tags]
    if not panels:
        raise ValueError(f"{run_dir}: no learning-curve scalars (looked for {', '.join(wanted)})")
    fig = Figure(figsize=(10, 3.2 * len(panels) + 0.6))
    axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    for ax, (title, tags) in zip(axes, panels):
        for tag in tags:
            steps, values = scalars[tag]
            if title == "accuracy" and values.size and values.max() <= 1.0:
                values = 100 * values
            ax.plot(steps, values, marker="." if steps.size < 50 else None, label=tag)
        ax.set_ylabel(f"{title} (%)" if title == "accuracy" else title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    axes[-1].set_xlabel("training steps")
    fig.suptitle(f"learning curves: {Path(run_dir).name}", x=0.01, ha="left")
    fig.tight_layout()
    return _save(fig, path)
