"""``ppomania skin``: write the ppomania skin, an osu!stable skin that draws the agent's frames."""

from __future__ import annotations

import argparse
from pathlib import Path

from ppomania.cli import CliError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "skin",
        help="write an osu!stable skin (.osk) that looks like the agent's training frames",
        description="Write an osu!stable skin with a [Mania] section per key count: black lanes, "
        "white note heads, grey hold bodies and judgement line, nothing else over the lanes "
        "(no lighting, bursts, combo or keys), heads as tall as in the simulator's frames at the "
        "scroll speed they were trained at (22 unless a run says otherwise). Open the .osk to "
        "install it in osu!.",
    )
    parser.add_argument(
        "--keys",
        type=int,
        nargs="+",
        default=None,
        metavar="K",
        help="key counts to configure (1-10; default all)",
    )
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        default=Path("ppomania.osk"),
        metavar="FILE",
        help="the .osk to write (default ppomania.osk)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ppomania.agent.runs import write_atomic
    from ppomania.env.spaces import default_geometry
    from ppomania.sim.render import BODY, HEAD, LINE
    from ppomania.skin.ppomania_skin import ALL_KEYS, FrameLook, osk_bytes

    keys = sorted(set(args.keys or ALL_KEYS))
    bad = [k for k in keys if k not in ALL_KEYS]
    if bad:
        raise CliError(f"--keys must be in 1..10 (one stage), got {bad[0]}")
    looks = {}
    for k in keys:
        g = default_geometry(k)
        looks[k] = FrameLook(
            head_rows=g.head_rows,
            judgement_row=g.judgement_row,
            scroll_ms=g.scroll_ms,
            column_width=g.column_width,
            note_margin=g.note_margin,
            head=HEAD,
            body=BODY,
            line=LINE,
        )
    data = osk_bytes(looks)
    try:
        write_atomic(args.output, data)
    except OSError as exc:
        raise CliError(str(exc)) from None
    print(
        f"{args.output}: ppomania skin for {', '.join(f'{k}K' for k in keys)} ({len(data)} bytes)"
    )
    return 0
