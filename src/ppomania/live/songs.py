"""The osu! Songs folder: finding the ``.osu`` file the game state names on this machine."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path, PureWindowsPath

from ppomania.protocol.snapshot import GameSnapshot

log = logging.getLogger(__name__)


def find_beatmap_file(
    snapshot: GameSnapshot | None, songs: str | Path | None = None
) -> Path | None:
    """The ``.osu`` the game state names, if it exists here: ``songs/folder/file``, else under the
    Songs folder the state reports; None when neither exists or the MD5 differs.

    The state's folder is a Windows path (osu! runs on Windows or under Wine), split as one. The
    state comes from another program: a folder or file that leads out of the Songs folder
    (``..``, an absolute path, a link), or a file that is no ``.osu``, is refused with a warning.
    """
    if snapshot is None or not snapshot.beatmap.file:
        return None
    info = snapshot.beatmap
    roots = [Path(songs).expanduser()] if songs else []
    if snapshot.songs_folder:
        roots.append(Path(snapshot.songs_folder))
    folder = PureWindowsPath(info.folder).parts if info.folder else ()
    if not info.file.lower().endswith(".osu"):
        log.warning("the game state's map %s is no .osu file", info.file)
        return None
    for root in roots:
        path = root.joinpath(*folder, info.file)
        if not path.resolve().is_relative_to(root.resolve()):
            log.warning("the game state's map %s leads out of the Songs folder %s", path, root)
            continue
        if path.is_file():
            if info.md5 and hashlib.md5(path.read_bytes()).hexdigest() != info.md5:
                continue
            return path
    return None
