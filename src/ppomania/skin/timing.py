"""How long osu!stable shows the playfield's transient elements, and which element a judgement
bursts as: facts the stand-in draws by and the live perception allows for."""

from __future__ import annotations

from ppomania.game.rules import Judgement

#: The column light shrinks away over this long after its key is let go.
LIGHT_RELEASE_MS = 250.0
#: The skin.ini name of each judgement's burst (MAX bursts as ``Hit300g``).
BURST_ELEMENTS = {
    Judgement.MAX: "Hit300g",
    Judgement.GREAT: "Hit300",
    Judgement.GOOD: "Hit200",
    Judgement.OK: "Hit100",
    Judgement.MEH: "Hit50",
    Judgement.MISS: "Hit0",
}
