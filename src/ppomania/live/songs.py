"""The osu! Songs folder: finding the ``.osu`` file the game state names on this machine."""

from __future__ import annotations

import hashlib
from pathlib import Path, PureWindowsPath

from ppomania.protocol.snapshot import GameSnapshot


def find_beatmap_file(
    snapshot: GameSnapshot | None, songs: str | Path | None = None
) -> Path | None:
    """The ``.osu`` the game state names, if it exists here: ``songs/folder/file``, else under the
    Songs folder the state reports; None when neither exists or the MD5 differs.

    The state's folder is a Windows path (osu! runs on Windows or under Wine), split as one.
    """
    if snapshot is None or not snapshot.beatmap.file:
        return None
    info = snapshot.beatmap
    roots = [Path(songs).expanduser()] if songs else []
    if snapshot.songs_folder:
        roots.append(Path(snapshot.songs_folder))
    folder = PureWindowsPath(info.folder).parts if info.folder else ()
    for root in roots:
        path = root.joinpath(*folder, info.file)
        if path.is_file():
            if info.md5 and hashlib.md5(path.read_bytes()).hexdigest() != info.md5:
                continue
            return path
    return None
