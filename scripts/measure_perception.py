"""Offline measurement of the live perception options against the simulator's frames.

For each look (the built-in default-like skin, the ppomania skin, osu!'s special test skin) it draws
the stand-in's osu!-style playfield headlessly at many moments of a real map (8 grabs 1/60 s apart
each, the first 2 not scored), played by an autoplay with timing errors (so there are hits, held
holds, lighting, bursts, combo), grabs the capture area the calibration gives, turns it into the
agent's frame with each perception option and compares with the simulator's frame at the same time
and judge state:

- ``equal``: % of frame pixels equal;
- ``heads``: % of the simulator's heads with a perceived head whose bottom row is within 1 row
  (recall), ``phantom``: % of perceived heads with no simulator head within 1 row;
- ``us``: perception time per frame (µs).

With ``--model M`` it also plays the 4K model in a closed loop per option (the playfield drawn
every step from the judge and the keys the model holds, read back, its keys landing after its
latency) and prints its accuracy beside the simulator's own frames (``sim``).

Run: ``PYTHONPATH=src python scripts/measure_perception.py [--times 200] [--keys 4 7]
[--looks default ppomania special] [--window 854x480] [--model tests/data/models/ppo-4k.zip]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from ppomania.cli import main as main_cli
from ppomania.env.live_frames import grab_rect, perception_for
from ppomania.env.skin_perception import skin_perception
from ppomania.env.spaces import default_geometry
from ppomania.game.beatmap import load_beatmap
from ppomania.game.judge import Judge
from ppomania.game.rules import Mods
from ppomania.live.capture import Calibration
from ppomania.sim.render import HEAD, CaptureArea, render_beatmap_frame
from ppomania.skin.files import load_skin
from ppomania.skin.timing import LIGHT_RELEASE_MS
from ppomania.standin.playfield import SkinnedPlayfield

ROOT = Path(__file__).resolve().parents[1]
MAPS = {
    4: ROOT / "tests/data/ppy-osu/diffcalc-test.osu",
    7: ROOT / "tests/data/ppy-osu/7K.osu",
}
SPECIAL = ROOT / "tests/data/osu-special-skin"
WINDOW = (854, 480)
RUN, WARM_UP = 8, 2  # consecutive grabs per sampled moment; the first ones are not scored


def head_rows(frame: np.ndarray, geometry) -> set[tuple[int, int]]:
    """(column, bottom row) of each head run in a frame."""
    cw = geometry.column_width
    centre = frame[:, cw // 2 :: cw] == HEAD
    bottom = centre & ~np.vstack([centre[1:], np.zeros((1, centre.shape[1]), bool)])
    ys, cs = np.nonzero(bottom)
    return set(zip(cs.tolist(), ys.tolist()))


def events_of(beatmap, seed: int = 0) -> list[tuple[int, int, bool]]:
    rng = np.random.default_rng(seed)
    events = []
    for i in range(beatmap.n_objects):
        start, end, c = int(beatmap.starts[i]), int(beatmap.ends[i]), int(beatmap.columns[i])
        error = int(rng.integers(-25, 25))
        events.append((start + error, c, True))
        events.append((max(start, end) + error + int(rng.integers(30, 70)), c, False))
    events.sort()
    return events


def looks(folder: Path) -> dict[str, object]:
    """The built-in default-like look, the ppomania skin (written into ``folder``), osu!'s special
    test skin."""
    osk = folder / "ppomania.osk"
    if not osk.exists():
        main_cli(["skin", "--output", str(osk)])
    return {"default": load_skin(None), "ppomania": load_skin(osk), "special": load_skin(SPECIAL)}


def measure(beatmap, skin, n_times: int, window=WINDOW, until_ms: float = 30000.0):
    geometry = default_geometry(beatmap.keys)
    field = SkinnedPlayfield(skin, beatmap, window)
    lay = field.layout
    left, right = lay.columns[0][0], lay.columns[-1][1]
    p = field.px_per_ms
    row_px = p * geometry.ms_per_row
    playfield = Calibration(
        round(left), round(right), lay.hit_y, p, beatmap.keys, (0, 0, *window), "-"
    )
    rect = grab_rect(playfield, geometry)
    options = {
        "palette": perception_for(replace(playfield, skin=None), geometry, rect),
        "skin": skin_perception(
            skin, lay, lay.hit_y, left, (rect.left, rect.top, rect.width, rect.height),
            geometry, row_px,
        ),
    }  # fmt: skip
    area = CaptureArea(rect.left, rect.top, rect.width, rect.height)
    events = events_of(beatmap)
    end = min(until_ms, float(beatmap.ends.max()))
    # runs of grabs 1/60 s apart, as the live loop grabs (the skin's perception remembers)
    starts = np.sort(np.random.default_rng(1).uniform(0, end, max(1, n_times // RUN)))
    times = (starts[:, None] + np.arange(RUN) * 1000 / 60).ravel()
    judge = Judge(beatmap, Mods.NO_FAIL)
    held = np.zeros(beatmap.keys, bool)
    released = np.full(beatmap.keys, -1e9)
    k = 0
    stats = {name: {"equal": [], "hit": 0, "heads": 0, "phantom": 0, "seen": 0, "us": []}
             for name in options}  # fmt: skip
    out = np.zeros(geometry.shape, np.uint8)
    for i, t in enumerate(times):
        while k < len(events) and events[k][0] <= t:
            at, c, down = events[k]
            (judge.press if down else judge.release)(at, c)
            held[c] = down
            if not down:
                released[c] = at
            k += 1
        judge.advance(t)
        if i % RUN == 0:
            for perception in options.values():
                perception.reset()
        combo = int(judge.state.combo)
        picture = field.draw(t, judge, held.tolist(), combo)
        grab = np.zeros((area.height, area.width, 4), np.uint8)
        y0 = max(0, area.top)
        rows = picture[y0 : area.top + area.height, area.left : area.left + area.width]
        grab[y0 - area.top : y0 - area.top + rows.shape[0], : rows.shape[1], :3] = rows[..., ::-1]
        expected = render_beatmap_frame(beatmap, t, geometry, judge)
        truth = head_rows(expected, geometry)
        level = np.where(held, 1.0, np.clip(1 - (t - released) / LIGHT_RELEASE_MS, 0, 1))
        for name, perception in options.items():
            t0 = time.perf_counter()
            perception.frame(grab, out, level)
            if i % RUN < WARM_UP:
                continue
            s = stats[name]
            s["us"].append(1e6 * (time.perf_counter() - t0))
            s["equal"].append((out == expected).mean())
            seen = head_rows(out, geometry)
            s["heads"] += len(truth)
            s["hit"] += sum(any((c, y + d) in seen for d in (-1, 0, 1)) for c, y in truth)
            s["seen"] += len(seen)
            s["phantom"] += sum(not any((c, y + d) in truth for d in (-1, 0, 1)) for c, y in seen)
    return {
        name: {
            "equal": 100 * float(np.mean(s["equal"])),
            "heads": 100 * s["hit"] / max(1, s["heads"]),
            "phantom": 100 * s["phantom"] / max(1, s["seen"]),
            "us": float(np.median(s["us"])),
        }
        for name, s in stats.items()
    }


def closed_loop(beatmap, skin, model_path: str, option: str, window=WINDOW, until_ms=10000.0):
    """The model plays ``beatmap`` (objects before ``until_ms``) in a closed loop without a
    window: every step the stand-in's playfield is drawn at the step's time with the judge's
    state and the keys held, read back with ``option`` (``palette``, ``skin``; ``sim``: the
    simulator's own frame), and the model's keys land ``latency_ms`` later. Returns the
    accuracy (%)."""
    from ppomania.agent.inference import DeterministicActions
    from ppomania.agent.models import load_model
    from ppomania.game.score import accuracy
    from ppomania.sim.render import FrameStack

    loaded = load_model(model_path)
    actions = DeterministicActions(loaded.model)
    geometry = loaded.geometry
    field = SkinnedPlayfield(skin, beatmap, window)
    lay = field.layout
    left, right = lay.columns[0][0], lay.columns[-1][1]
    playfield = Calibration(
        round(left), round(right), lay.hit_y, field.px_per_ms, beatmap.keys, (0, 0, *window), "-"
    )
    rect = grab_rect(playfield, geometry)
    row_px = field.px_per_ms * geometry.ms_per_row
    perception = (
        perception_for(replace(playfield, skin=None), geometry, rect)
        if option == "palette"
        else skin_perception(
            skin, lay, lay.hit_y, left, (rect.left, rect.top, rect.width, rect.height),
            geometry, row_px,
        )
    )  # fmt: skip
    judge = Judge(beatmap)
    stack = FrameStack(1, geometry.shape)
    held = np.zeros(beatmap.keys, bool)
    released = np.full(beatmap.keys, -1e9)
    pending: list[tuple[float, np.ndarray]] = []
    period = 1000.0 / loaded.control_hz
    end = min(until_ms, float(beatmap.ends.max())) + 500
    t = -1000.0
    grab = np.zeros((rect.height, rect.width, 4), np.uint8)
    while t < end:
        while pending and pending[0][0] <= t:
            at, keys = pending.pop(0)
            judge.advance(at)
            for c in np.flatnonzero(keys != held):
                (judge.press if keys[c] else judge.release)(at, int(c))
                if not keys[c]:
                    released[c] = at
            held = keys
        judge.advance(t)
        frame = stack.advance()[0]
        if option == "sim":
            frame[...] = render_beatmap_frame(beatmap, t, geometry, judge)
        else:
            picture = field.draw(t, judge, held.tolist(), int(judge.state.combo))
            y0 = max(0, rect.top)
            rows = picture[y0 : rect.top + rect.height, rect.left : rect.left + rect.width]
            grab[: rows.shape[0], : rows.shape[1], :3] = rows[..., ::-1]
            level = np.where(held, 1.0, np.clip(1 - (t - released) / LIGHT_RELEASE_MS, 0, 1))
            perception.frame(grab, frame, level)
        keys = loaded.codec.decode(actions(stack.stack)[0:1])[0].astype(bool)
        pending.append((t + loaded.latency_ms, keys.copy()))
        t += period
    judge.advance(end + 1000)
    return 100 * accuracy(judge.state.counts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--times", type=int, default=300)
    parser.add_argument("--keys", type=int, nargs="*", default=[4, 7])
    parser.add_argument("--looks", nargs="*")
    parser.add_argument("--window", default="854x480", help="client area WxH (854x480)")
    parser.add_argument("--model", help="also play this model in a closed loop per option")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        all_looks = looks(Path(tmp))
        for keys in args.keys:
            beatmap = load_beatmap(MAPS[keys])
            for name, skin in all_looks.items():
                if (args.looks and name not in args.looks) or (name == "special" and keys != 4):
                    continue  # the special skin has a [Mania] section for 4K only
                window = tuple(int(v) for v in args.window.split("x"))
                if args.model and keys == 4:
                    for option in ("sim", "palette", "skin"):
                        acc = closed_loop(beatmap, skin, args.model, option, window)
                        print(f"{keys}K {name:<9} {option:<8} model accuracy {acc:6.2f}%")
                for option, m in measure(beatmap, skin, args.times, window).items():
                    print(
                        f"{keys}K {name:<9} {option:<8} equal {m['equal']:6.2f}%  heads "
                        f"{m['heads']:6.2f}%  phantom {m['phantom']:6.2f}%  {m['us']:6.0f} µs",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
