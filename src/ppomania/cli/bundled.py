"""The bundled models as the commands' default player: found per key count, announced in one line
(on stderr, so ``--json`` output stays JSON), a one-line error where none ships."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ppomania.cli import CliError

if TYPE_CHECKING:
    from ppomania.agent.models import LoadedModel


def bundled_model(keys: int) -> Path:
    """The bundled model for ``keys``-key maps, announced on stderr.

    :raises CliError: when none ships for that key count.
    """
    from ppomania.agent.bundled import bundled_model_path

    path = bundled_model_path(keys)
    if path is None:
        raise no_bundled_model(f"{keys}K")
    print(f"using the bundled {keys}K model ({path})", file=sys.stderr)
    return path


def no_bundled_model(keys: str) -> CliError:
    """The error for maps of ``keys`` (e.g. ``"5K, 14K"``) that no bundled model plays."""
    return CliError(
        f"no bundled model for {keys} maps: pass --model (a run folder or model .zip) or --policy"
    )


def load_bundled_model(keys: int) -> LoadedModel:
    """:func:`bundled_model`, loaded. :raises CliError: none ships, or it does not load."""
    path = bundled_model(keys)
    loaded = load_model_or_fail(path)
    if loaded.codec.keys != keys:
        raise CliError(f"{path}: the bundled {keys}K model plays {loaded.codec.keys}K")
    return loaded


def load_model_or_fail(path: str | Path) -> LoadedModel:
    """:func:`~ppomania.agent.models.load_model` with its errors as one-line :class:`CliError`."""
    from ppomania.agent.models import load_model

    try:
        return load_model(path)
    except (OSError, ValueError) as exc:
        raise CliError(str(exc)) from None
