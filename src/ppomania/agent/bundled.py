"""The pretrained models that ship with ppomania: one ppomania model file per key count, in the
package's ``data/models`` folder (``4k.zip``, ``7k.zip``), the commands' default player."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def bundled_models_folder() -> Path:
    """The package folder the bundled models lie in (found through ``importlib.resources``, so an
    installed wheel finds its own)."""
    return Path(str(resources.files("ppomania").joinpath("data").joinpath("models")))


def bundled_model_path(keys: int, folder: Path | None = None) -> Path | None:
    """The bundled model for ``keys``-key maps in ``folder`` (default
    :func:`bundled_models_folder`), or None when none ships for that key count."""
    path = (folder if folder is not None else bundled_models_folder()) / f"{keys}k.zip"
    return path if path.is_file() else None
