"""Map sources for the simulator: ``.osu`` files, folders, the osu! Songs folder; a map pool."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ppomania.game.beatmap import Beatmap, BeatmapError, load_beatmap
from ppomania.game.osu_writer import beatmap_to_osu

log = logging.getLogger(__name__)

_NOT_MANIA = "not an osu!mania map"


@dataclass
class MapScan:
    """What :func:`scan_maps` found: the maps kept and why the others were skipped."""

    maps: list[Beatmap] = field(default_factory=list)
    other_mode: int = 0
    other_keys: int = 0
    empty: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def skipped(self) -> int:
        return self.other_mode + self.other_keys + self.empty + len(self.errors)

    def summary(self) -> str:
        return (
            f"{len(self.maps)} maps loaded; skipped {self.other_mode} of other modes, "
            f"{self.other_keys} of other key counts, {self.empty} empty, "
            f"{len(self.errors)} unreadable"
        )


def _osu_files(source: Path) -> list[Path]:
    if source.is_dir():
        return sorted(p for p in source.rglob("*") if p.suffix.lower() == ".osu" and p.is_file())
    if source.exists():
        return [source]
    raise FileNotFoundError(f"no such map file or folder: {source}")


def scan_maps(sources: Sequence[str | Path], keys: int | None = None) -> MapScan:
    """Load every osu!mania map in ``sources`` (``.osu`` files and folders, searched recursively).

    Maps of other modes, other key counts (when ``keys`` is given) and maps without objects are
    counted and skipped; a file that fails to parse is recorded with its :class:`BeatmapError`
    message and skipped.

    :raises FileNotFoundError: a source does not exist.
    """
    scan = MapScan()
    for source in sources:
        for path in _osu_files(Path(source)):
            try:
                beatmap = load_beatmap(path)
            except BeatmapError as exc:
                if exc.reason.startswith(_NOT_MANIA):
                    scan.other_mode += 1
                else:
                    scan.errors.append(str(exc))
                continue
            if keys is not None and beatmap.keys != keys:
                scan.other_keys += 1
            elif beatmap.n_objects == 0:
                scan.empty += 1
            else:
                scan.maps.append(beatmap)
    return scan


def load_maps(sources: Sequence[str | Path], keys: int | None = None) -> list[Beatmap]:
    """The maps of :func:`scan_maps`; skipped files are logged (a warning per unreadable file)."""
    scan = scan_maps(sources, keys)
    for error in scan.errors:
        log.warning("skipped %s", error)
    log.info(scan.summary())
    return scan.maps


def songs_folder_candidates(
    environ: dict[str, str] | None = None,
    home: Path | None = None,
    platform: str | None = None,
) -> list[Path]:
    """Where osu!stable keeps its Songs folder, most likely first.

    Arguments default to this machine's environment, home folder and ``sys.platform``.
    """
    environ = dict(os.environ) if environ is None else environ
    home = Path.home() if home is None else home
    platform = sys.platform if platform is None else platform
    user = environ.get("USER") or environ.get("USERNAME") or home.name
    stable = Path("AppData", "Local", "osu!", "Songs")
    candidates = []
    if "PPOMANIA_SONGS" in environ:
        candidates.append(Path(environ["PPOMANIA_SONGS"]))
    if platform.startswith("win"):
        if "LOCALAPPDATA" in environ:
            candidates.append(Path(environ["LOCALAPPDATA"], "osu!", "Songs"))
        candidates.append(home / stable)
    elif platform == "darwin":
        candidates += [
            Path("/Applications/osu!.app/Contents/Resources/drive_c/osu!/Songs"),
            home / "Applications/osu!.app/Contents/Resources/drive_c/osu!/Songs",
            home / "Library/Application Support/osu!/drive_c/osu!/Songs",
        ]
    else:
        prefix = Path(environ.get("WINEPREFIX", home / ".wine"))
        candidates += [
            prefix / "drive_c/users" / user / stable,
            prefix / "drive_c/osu!/Songs",
            home / ".local/share/osu-wine/osu!/Songs",  # osu-winello
            home / "Games/osu/drive_c/users" / user / stable,  # Lutris
            home / "Games/osu!/drive_c/users" / user / stable,
            home / ".local/share/wineprefixes/osu/drive_c/users" / user / stable,
        ]
    return candidates


def default_songs_folder() -> Path | None:
    """The first existing osu!stable Songs folder (``$PPOMANIA_SONGS`` first), or None."""
    return next((p for p in songs_folder_candidates() if p.is_dir()), None)


def notes_per_second(beatmap: Beatmap) -> float:
    """Objects per second from the first object to the last end (a simple difficulty measure)."""
    if beatmap.n_objects == 0:
        return 0.0
    span = max(1000.0, float(beatmap.duration_ms - beatmap.starts[0]))
    return beatmap.n_objects * 1000.0 / span


def rosu_beatmap(beatmap: Beatmap) -> Any:
    """``beatmap`` as a ``rosu_pp_py.Beatmap`` (read from its file when it has one)."""
    import rosu_pp_py as rosu  # only star ratings need it: keep it off the simulator's import

    if beatmap.path is not None:
        return rosu.Beatmap(path=str(beatmap.path))
    return rosu.Beatmap(bytes=beatmap_to_osu(beatmap))


def star_rating(beatmap: Beatmap) -> float:
    """osu!mania star rating (rosu-pp-py, no mods), the curriculum's measure of difficulty."""
    import rosu_pp_py as rosu

    if beatmap.n_objects == 0:
        return 0.0
    return float(rosu.Difficulty().calculate(rosu_beatmap(beatmap)).stars)


class MapPool:
    """Maps to train on, sampled with a numpy Generator; ids index :attr:`maps`.

    :param maps: the maps (build :class:`~ppomania.sim.packed.PackedMaps` from the same list so the
        ids match).
    :param curriculum: sample easy maps first: at ``progress`` p only the easiest
        ``start_fraction + (1 - start_fraction) * p`` of the maps (at least one) are drawn.
        Default False (uniform over all maps).
    :param start_fraction: share of the maps available at progress 0. Default 0.2.
    :param difficulty: the measure maps are sorted by. Default :func:`notes_per_second`.
    """

    def __init__(
        self,
        maps: Sequence[Beatmap],
        curriculum: bool = False,
        start_fraction: float = 0.2,
        difficulty: Callable[[Beatmap], float] = notes_per_second,
    ) -> None:
        if not maps:
            raise ValueError("MapPool needs at least one map")
        if not 0 < start_fraction <= 1:
            raise ValueError("start_fraction must be in (0, 1]")
        self.maps = list(maps)
        self.curriculum = curriculum
        self.start_fraction = start_fraction
        self.difficulties = np.array([difficulty(m) for m in self.maps], dtype=np.float64)
        self.order = np.argsort(self.difficulties, kind="stable")  # easiest first

    def __len__(self) -> int:
        return len(self.maps)

    def available(self, progress: float = 1.0) -> np.ndarray:
        """Ids that may be drawn at ``progress`` in [0, 1] (all of them without a curriculum)."""
        if not self.curriculum:
            return np.arange(len(self.maps))
        share = self.start_fraction + (1.0 - self.start_fraction) * min(1.0, max(0.0, progress))
        count = max(1, min(len(self.maps), round(share * len(self.maps))))
        return self.order[:count]

    def sample(self, rng: np.random.Generator, n: int, progress: float = 1.0) -> np.ndarray:
        """``n`` map ids, uniform over :meth:`available` at ``progress``."""
        return rng.choice(self.available(progress), size=n)


def bundled_map_paths(keys: int | None = None) -> list[Path]:
    """The real maps shipped with ppomania (held out from training; see their README), of ``keys``
    keys (None: all)."""
    folder = Path(__file__).resolve().parent.parent / "data" / "maps"
    paths = sorted(folder.glob("*.osu"))
    return paths if keys is None else [p for p in paths if load_beatmap(p).keys == keys]
