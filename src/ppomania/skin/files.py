"""An osu!stable skin on disk (a folder or an ``.osk`` zip) and osu!'s image lookup in it.

Lookup, as osu! does it (lazer ``LegacySkin.GetTexture``/``GetAnimation``, which port stable's):
names are paths relative to the skin folder without extension, ``/`` or ``\\`` separated and
compared case-insensitively (osu! runs on Windows); ``name@2x`` is preferred over ``name`` and
drawn at half size (scale 2); an animated element is ``name-0``, ``name-1``, ... and its first
frame stands in for ``name``; a name the skin lacks falls back to the default skin's element
(here :func:`~ppomania.skin.elements.default_element`). A ``@2x`` written in a skin.ini value is
ignored (``ini`` strips it).

Zips are read defensively: a capped number of entries, a capped size per image and per
``skin.ini``, and a capped pixel count read from the PNG header before decoding.
"""

from __future__ import annotations

import io
import os
import struct
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

from ppomania.skin.elements import default_element
from ppomania.skin.ini import SkinIni, SkinWarning, parse_skin_ini

#: Most entries a skin zip may hold (real skins have a few hundred to a few thousand files).
MAX_ENTRIES = 20_000
#: Largest image file read (bytes, uncompressed).
MAX_IMAGE_BYTES = 32 << 20
#: Largest decoded image (pixels): 8192 x 8192.
MAX_PIXELS = 8192 * 8192
#: Largest skin.ini read (bytes).
MAX_INI_BYTES = 4 << 20
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")


class SkinError(Exception):
    """A skin that cannot be read (one line, naming the path)."""


@dataclass(frozen=True, eq=False)
class SkinImage:
    """One image: RGBA uint8 ``pixels`` (h, w, 4), ``scale`` 2.0 for ``@2x`` files, and the
    ``name`` that was found (``"<default>:mania-note1"`` for generated ones)."""

    pixels: np.ndarray
    scale: float = 1.0
    name: str = ""

    @property
    def size(self) -> tuple[float, float]:
        """(width, height) in osu!'s 1x pixels."""
        h, w = self.pixels.shape[:2]
        return (w / self.scale, h / self.scale)


def _png_size(head: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG's IHDR, or None for anything that is not a PNG."""
    if len(head) >= 24 and head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
        w, h = struct.unpack(">II", head[16:24])
        return int(w), int(h)
    return None


def decode_image(data: bytes, where: str) -> np.ndarray:
    """PNG/JPEG bytes -> RGBA uint8 ``(h, w, 4)``; :class:`SkinError` when unreadable or too big."""
    size = _png_size(data[:24])
    if size is not None and size[0] * size[1] > MAX_PIXELS:
        raise SkinError(f"{where}: image of {size[0]}x{size[1]} pixels is too large")
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    import pygame  # lazy: costs time on import

    try:
        surface = pygame.image.load(io.BytesIO(data), where)
    except (pygame.error, ValueError) as exc:
        raise SkinError(f"{where}: not a readable image ({exc})") from None
    w, h = surface.get_size()
    if w * h > MAX_PIXELS:
        raise SkinError(f"{where}: image of {w}x{h} pixels is too large")
    raw = pygame.image.tobytes(surface, "RGBA")
    return np.frombuffer(raw, np.uint8).reshape(h, w, 4).copy()


class _Files:
    """The files of a skin: lowercase relative path (``/``) -> a reader of its bytes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.index: dict[str, str] = {}
        self._zip: zipfile.ZipFile | None = None
        if path.is_dir():
            for file in path.rglob("*"):
                if len(self.index) >= MAX_ENTRIES:
                    raise SkinError(f"{path}: more than {MAX_ENTRIES} files, not a skin")
                if file.is_file():
                    self.index[file.relative_to(path).as_posix().lower()] = str(file)
        elif path.is_file():
            try:
                self._zip = zipfile.ZipFile(path)
                infos = self._zip.infolist()
            except (zipfile.BadZipFile, OSError, ValueError) as exc:
                raise SkinError(
                    f"{path}: neither a skin folder nor a readable .osk zip ({exc})"
                ) from None
            if len(infos) > MAX_ENTRIES:
                raise SkinError(f"{path}: more than {MAX_ENTRIES} entries, not a skin")
            names = {
                PurePosixPath(i.filename.replace("\\", "/")).as_posix(): i.filename
                for i in infos
                if not i.is_dir()
            }
            # a zip of the skin's folder itself: look inside that one folder
            tops = {n.split("/", 1)[0] for n in names}
            prefix = ""
            if "skin.ini" not in {n.lower() for n in names} and len(tops) == 1:
                top = next(iter(tops))
                if all("/" in n for n in names):
                    prefix = top + "/"
            for name, original in names.items():
                if name.startswith(prefix):
                    self.index[name[len(prefix) :].lower()] = original
        else:
            raise SkinError(f"{path}: no such skin folder or .osk file")

    def read(self, key: str, limit: int) -> bytes:
        where = f"{self.path}:{key}" if self._zip else self.index[key]
        try:
            if self._zip is not None:
                info = self._zip.getinfo(self.index[key])
                if info.file_size > limit:
                    raise SkinError(f"{where}: {info.file_size} bytes is too large")
                with self._zip.open(info) as f:
                    data = f.read(limit + 1)
            else:
                with open(self.index[key], "rb") as f:
                    data = f.read(limit + 1)
        except (OSError, zipfile.BadZipFile, RuntimeError, ValueError) as exc:
            raise SkinError(f"{where}: cannot read ({exc})") from None
        if len(data) > limit:
            raise SkinError(f"{where}: larger than {limit} bytes")
        return data

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()


def _clean(name: str) -> str:
    name = name.replace("\\", "/").strip().strip("/")
    return name[:-3] if name.lower().endswith("@2x") else name


@dataclass(eq=False)
class Skin:
    """A loaded skin: its ``ini``, ``name`` and osu!'s image lookup (:meth:`image`, :meth:`frames`).

    Build it with :func:`load_skin`. Decoded images are cached per name.
    """

    ini: SkinIni
    name: str
    _files: _Files | None = None
    _cache: dict[str, SkinImage | None] = field(default_factory=dict)

    def _find(self, name: str) -> SkinImage | None:
        """``name`` from the skin's own files (``@2x`` first), or None."""
        if self._files is None:
            return None
        key = _clean(name).lower()
        if key in self._cache:
            return self._cache[key]
        found = None
        for suffix, scale in (("@2x", 2.0), ("", 1.0)):
            for ext in IMAGE_EXTENSIONS:
                entry = f"{key}{suffix}{ext}"
                if entry in self._files.index:
                    data = self._files.read(entry, MAX_IMAGE_BYTES)
                    try:
                        pixels = decode_image(data, f"{self.name}:{entry}")
                    except SkinError as exc:
                        # osu! draws nothing for an unreadable file; say so once and fall back
                        warnings.warn(SkinWarning(str(exc)), stacklevel=3)
                        continue
                    found = SkinImage(pixels, scale, f"{self.name}:{self._files.index[entry]}")
                    break
            if found is not None:
                break
        self._cache[key] = found
        return found

    def has(self, name: str) -> bool:
        """Whether the skin itself has ``name`` (or its first animation frame)."""
        return self._find(name) is not None or self._find(f"{_clean(name)}-0") is not None

    def image(self, name: str, fallback: str | None = None) -> SkinImage:
        """osu!'s lookup of one image: the skin's ``name`` (or ``name-0``), then ``fallback``
        (the default name of an element a skin.ini renamed), then the default skin's element.
        A name with no default gives a transparent 1x1 image (osu! draws nothing)."""
        for candidate in (name, fallback):
            if candidate is None:
                continue
            found = self._find(candidate) or self._find(f"{_clean(candidate)}-0")
            if found is not None:
                return found
        for candidate in (fallback, name):
            if candidate is None:
                continue
            base = _clean(candidate)
            for default in (base, f"{base}-0"):
                pixels = default_element(default)
                if pixels is not None:
                    return SkinImage(pixels, 1.0, f"<default>:{default}")
        return SkinImage(np.zeros((1, 1, 4), np.uint8), 1.0, f"<missing>:{name}")

    def frames(self, name: str, fallback: str | None = None) -> list[SkinImage]:
        """An element's animation frames (``name-0``, ``name-1``, ...), or ``[image(name)]``."""
        for candidate in (name, fallback):
            if candidate is None:
                continue
            base = _clean(candidate)
            frames = self._frames_from(self._find, base)
            if frames:
                return frames
            if self._find(base) is not None:
                return [self.image(base)]
        for candidate in (fallback, name):
            if candidate is None:
                continue
            base = _clean(candidate)

            def generated(n: str) -> SkinImage | None:
                pixels = default_element(n)
                return None if pixels is None else SkinImage(pixels, 1.0, f"<default>:{n}")

            frames = self._frames_from(generated, base)
            if frames:
                return frames
        return [self.image(name, fallback)]

    @staticmethod
    def _frames_from(find: Callable[[str], SkinImage | None], base: str) -> list[SkinImage]:
        frames = []
        while len(frames) < 1000:
            frame = find(f"{base}-{len(frames)}")
            if frame is None:
                break
            frames.append(frame)
        return frames

    def close(self) -> None:
        """Close the ``.osk`` (images already read stay cached)."""
        if self._files is not None:
            self._files.close()


def load_skin(path: str | Path | None) -> Skin:
    """Load a skin folder or ``.osk``; ``None`` is the project's default-like look.

    :raises SkinError: the path is missing, a corrupt zip, neither folder nor zip, or its
        skin.ini cannot be read.
    """
    if path is None:
        return Skin(SkinIni(general={"Name": "ppomania default", "Version": "2.5"}), "<default>")
    path = Path(path)
    files = _Files(path)
    ini_key = "skin.ini"
    if ini_key in files.index:
        data = files.read(ini_key, MAX_INI_BYTES)
        # skin.ini files are UTF-8, some with a BOM; stray bytes must not stop a skin from loading
        text = data.decode("utf-8-sig", errors="replace")
        ini = parse_skin_ini(text, f"{path}/skin.ini" if path.is_dir() else f"{path}:skin.ini")
    else:
        # no skin.ini: osu! reads the skin as the latest version with every default
        ini = SkinIni(general={"Version": "latest"}, source=str(path))
    name = ini.general.get("Name") or path.stem
    return Skin(ini, name, files)
