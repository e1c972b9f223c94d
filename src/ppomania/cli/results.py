"""``ppomania results``: a model's results on real maps beside the human replays of those maps, as a
Markdown table."""

from __future__ import annotations

import argparse
import functools
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ppomania.cli import BUILTIN_POLICIES, CliError

if TYPE_CHECKING:
    import numpy as np

    from ppomania.agent.models import LoadedModel
    from ppomania.game.beatmap import Beatmap
    from ppomania.game.rules import Mods
    from ppomania.sim.render import HighwayGeometry

#: The real maps and replays of the repository's tests (present in a source checkout).
DEFAULT_FOLDER = Path(__file__).resolve().parents[3] / "tests" / "data"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "results",
        help="a model's results on real maps beside human replays, as a Markdown table",
        description="Play every osu!mania map (.osu) found under the folders once in the "
        "simulator and print a Markdown table: map, stars, key count, long-note share, accuracy, "
        "misses and pp, beside the human replays (.osr) of the same map found there (matched by "
        "the beatmap MD5, with the same difficulty mods): their count, best and median accuracy "
        "and median misses. Without --model or --policy, each key count is played by the model "
        "bundled for it; maps of a key count without one are skipped.",
    )
    parser.add_argument(
        "folders",
        nargs="*",
        type=Path,
        metavar="FOLDER",
        help="folders (searched recursively) or .osu/.osr files (default: the repository's "
        "tests/data)",
    )
    who = parser.add_mutually_exclusive_group()
    who.add_argument(
        "--model", help="a run folder or a model .zip (default: the bundled model per key count)"
    )
    who.add_argument("--policy", choices=BUILTIN_POLICIES, help="a built-in policy instead")
    parser.add_argument("--mods", default="NF", help="the model's mods (default NF)")
    parser.add_argument(
        "--json", action="store_true", help="print a JSON list (eval --json's keys, and more)"
    )
    parser.add_argument(
        "-o", "--output", type=Path, metavar="FILE.md", help="also write the table here"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ppomania.agent.evaluate import builtin_policy, model_policy, play_maps_by_keys
    from ppomania.agent.versus import HumanStats, VersusRow, markdown_table
    from ppomania.game.rules import Mods
    from ppomania.sim.core import SimConfig

    try:
        mods = Mods.parse(args.mods)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    sources = args.folders or [DEFAULT_FOLDER]
    if not args.folders and not DEFAULT_FOLDER.is_dir():
        raise CliError(f"no tests/data at {DEFAULT_FOLDER} (not a source checkout): pass folders")
    missing = next((source for source in sources if not source.exists()), None)
    if missing is not None:
        raise CliError(f"no such folder or file: {missing}")
    beatmaps = _find_maps(sources)
    if not beatmaps:
        raise CliError("no osu!mania map found in " + ", ".join(map(str, sources)))
    humans = _find_replays(sources, {b.md5 for b in beatmaps}, mods)
    if args.policy:
        policy_for = functools.partial(builtin_policy, args.policy)
        models: dict[int, LoadedModel] = {}
    else:
        models = _models(args.model, {b.keys for b in beatmaps})
        policies = {keys: model_policy(m.model, m.codec) for keys, m in models.items()}
        policy_for = policies.__getitem__
        beatmaps = [b for b in beatmaps if b.keys in models]
        if not beatmaps:
            raise CliError(f"no {next(iter(models))}K map for the model")

    def geometry_for(keys: int) -> HighwayGeometry | None:
        return models[keys].geometry if models else None

    plays = play_maps_by_keys(beatmaps, policy_for, SimConfig(mods=mods), True, geometry_for)
    rows = [VersusRow(play, HumanStats.of(humans.get(play.beatmap.md5, []))) for play in plays]
    table = markdown_table(rows)
    print(json.dumps([row.as_dict() for row in rows]) if args.json else table)
    if args.output:
        try:
            args.output.write_text(table + "\n", encoding="utf-8")
        except OSError as exc:
            raise CliError(f"cannot write {args.output}: {exc}") from None
    return 0


def _note(text: str) -> None:
    """A line beside the results (on stderr: stdout is the table or the JSON)."""
    from ppomania.text import printable

    print(printable(text), file=sys.stderr)


def _find_maps(sources: list[Path]) -> list[Beatmap]:
    """The osu!mania maps under ``sources``, each MD5 once; what was skipped is noted."""
    from ppomania.sim.maps import scan_maps

    scan = scan_maps([s for s in sources if s.is_dir() or s.suffix.lower() != ".osr"])
    for error in scan.errors:
        _note(f"skipped map {error}")
    if scan.other_mode:
        _note(f"skipped {scan.other_mode} maps of other modes than osu!mania")
    if scan.empty:
        _note(f"skipped {scan.empty} maps without objects")
    unique = {}
    for beatmap in scan.maps:
        unique.setdefault(beatmap.md5, beatmap)
    return list(unique.values())


def _find_replays(sources: list[Path], md5s: set[str], mods: Mods) -> dict[str, list[np.ndarray]]:
    """Judgement counts of the replays under ``sources`` per beatmap MD5 (of ``md5s``, played with
    the difficulty mods of ``mods``); an unreadable replay is noted in a line and skipped."""
    from ppomania.agent.versus import same_difficulty
    from ppomania.game.replay import ReplayError, load_replay

    counts: dict[str, list[np.ndarray]] = {}
    other_mods = 0
    for path in _replay_files(sources):
        try:
            replay = load_replay(path)
        except ReplayError as exc:
            _note(f"skipped replay {exc}")
            continue
        if replay.beatmap_md5 not in md5s:
            continue
        if not same_difficulty(replay.mods, mods):
            other_mods += 1
            continue
        counts.setdefault(replay.beatmap_md5, []).append(replay.counts)
    if other_mods:
        _note(f"skipped {other_mods} replays with other EZ/HR/DT/HT mods than {mods.acronyms}")
    return counts


def _replay_files(sources: list[Path]) -> list[Path]:
    files = []
    for source in sources:
        found = source.rglob("*") if source.is_dir() else [source]
        files += sorted(p for p in found if p.suffix.lower() == ".osr" and p.is_file())
    return files


def _models(model: str | None, key_counts: set[int]) -> dict[int, LoadedModel]:
    """``model`` for its key count, else the bundled model of each key count that has one;
    the key counts left without a model are noted."""
    from ppomania.agent.bundled import bundled_model_path
    from ppomania.cli.bundled import load_bundled_model, load_model_or_fail, no_bundled_model

    if model:
        loaded = load_model_or_fail(model)
        models = {loaded.codec.keys: loaded}
    else:
        models = {
            keys: load_bundled_model(keys)
            for keys in sorted(key_counts)
            if bundled_model_path(keys) is not None
        }
    missing = ", ".join(f"{keys}K" for keys in sorted(key_counts - set(models)))
    if not models:
        raise no_bundled_model(missing)
    if missing:
        why = f"the model plays {next(iter(models))}K" if model else "no bundled model for them"
        _note(f"skipped the {missing} maps: {why}")
    return models
