"""``ppomania play``: play the real game (or the stand-in) live with a model or autoplay."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ppomania.cli import CliError
from ppomania.protocol.endpoint import DEFAULT_PORT

if TYPE_CHECKING:
    from ppomania.agent.evaluate import PlayResult
    from ppomania.agent.live_view import LiveView
    from ppomania.env.live_env import LiveManiaEnv
    from ppomania.env.live_frame_saver import FrameSaver
    from ppomania.live.capture import Calibration
    from ppomania.live.state_client import StateClient
    from ppomania.sim.render import CaptureArea

#: Seconds to wait for the game state that names the map, when the model depends on its key count.
STATE_WAIT_S = 20.0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "play",
        help="play live (osu! + tosu/gosumemory, or the stand-in) with a model or autoplay",
        description="Capture the playfield, press keys and read the game state; print the same "
        "results table as eval, from the game's own final counts. The map is the one the game "
        "state names (found under --songs or the Songs folder the state reports), else --map. "
        "Without --model or --policy, the model bundled for the map's key count plays.",
    )
    who = parser.add_mutually_exclusive_group()
    who.add_argument(
        "--model",
        help="a run folder or a model .zip (default: the bundled model for the map's key count)",
    )
    who.add_argument("--policy", choices=("autoplay",), help="a built-in policy")
    parser.add_argument("--map", help="the .osu being played, when the state's map is not found")
    parser.add_argument("--songs", type=Path, help="the osu! Songs folder (to find the map)")
    parser.add_argument("--episodes", type=int, default=1, help="plays (1)")
    parser.add_argument("--json", action="store_true", help="print a JSON list")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"state server port ({DEFAULT_PORT})"
    )
    parser.add_argument(
        "--area", help="capture area on screen L,T,W,H for the agent's frame (default: calibration)"
    )
    parser.add_argument(
        "--config", type=Path, help="calibration JSON (~/.config/ppomania/live.json)"
    )
    parser.add_argument(
        "--skin",
        metavar="DIR|FILE.osk|default",
        help="the skin osu! draws with ('default': osu!'s; default: the calibration's)",
    )
    parser.add_argument(
        "--control-hz", type=float, help="steps per second (default: the model's, else 60)"
    )
    parser.add_argument(
        "--latency-ms",
        type=float,
        help="game ms from a frame to its keys (default: the model's simulated capture + input "
        "latency; autoplay: none, keys at once)",
    )
    parser.add_argument(
        "--realtime",
        action="store_true",
        help="run the control loop with real-time priority when the OS allows it",
    )
    parser.add_argument(
        "--show",
        action="store_true",
        help="show what the agent sees (its 4 frames), its key probabilities, held keys and the "
        "play's stats in a window, drawn only in the loop's idle time (close it or Esc: stop)",
    )
    parser.add_argument(
        "--save-frames",
        type=Path,
        metavar="DIR",
        help="write the screen grab and the perceived frame of every --save-every-th step as PNGs "
        "into DIR ({play}-{step}_{game ms}ms_grab.png / _frame.png), to inspect a misread",
    )
    parser.add_argument(
        "--save-every", type=int, default=10, metavar="N", help="save one step in N (10)"
    )
    parser.add_argument(
        "--save-limit", type=int, default=2000, metavar="FILES", help="most files saved (2000)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.policy:
        return _run(args)
    from ppomania.agent.models import one_torch_thread

    with one_torch_thread():
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from ppomania.agent.evaluate import results_table
    from ppomania.agent.inference import DeterministicActions
    from ppomania.cli.bundled import load_bundled_model, load_model_or_fail
    from ppomania.env.live_autoplay import LiveAutoplay
    from ppomania.env.live_env import LiveManiaEnv
    from ppomania.game.beatmap import BeatmapError, load_beatmap
    from ppomania.live.state_client import StateClient

    beatmap = None
    if args.map:
        try:
            beatmap = load_beatmap(args.map)
        except (OSError, BeatmapError) as exc:
            raise CliError(str(exc)) from None
    playfield = _playfield(args)
    geometry, codec, model, client = None, None, None, None
    control_hz, latency_ms = 60.0, None
    if args.model:
        loaded = load_model_or_fail(args.model)
    elif not args.policy:
        if beatmap is None:
            # the map comes from the game state: its key count picks the model; the env reuses
            # the connection
            client = StateClient(port=args.port).start()
        try:
            loaded = load_bundled_model(_game_map_keys(client) if client else beatmap.keys)
        except BaseException:
            if client is not None:
                client.close()
            raise
    if not args.policy:
        model, codec, geometry = loaded.model, loaded.codec, loaded.geometry
        control_hz, latency_ms = loaded.control_hz, loaded.latency_ms
        if beatmap is not None and codec.keys != beatmap.keys:
            raise CliError(f"the model plays {codec.keys}K, the map is {beatmap.keys}K")
    control_hz = args.control_hz or control_hz
    latency_ms = args.latency_ms if args.latency_ms is not None else latency_ms
    try:
        env = LiveManiaEnv(
            beatmap,
            playfield,
            geometry,
            action_space=codec.kind if codec else "multibinary",
            control_hz=control_hz,
            latency_ms=latency_ms,
            songs=args.songs,
            port=args.port,
            realtime=args.realtime,
            client=client,
        )
    except (FileNotFoundError, ValueError) as exc:
        raise CliError(str(exc)) from None
    if codec is not None and env.codec.keys != codec.keys:
        env.close()
        raise CliError(f"the model plays {codec.keys}K, the map is {env.codec.keys}K")
    policy = LiveAutoplay() if model is None else None
    actions = DeterministicActions(model) if model is not None else None
    view, saver = None, None
    plays, timings = [], []
    in_play = interrupted = False
    try:
        view = _view(args, env, model)
        saver = _saver(args)
        for episode in range(args.episodes):
            obs, info = env.reset()
            in_play = True
            if view is not None:
                view.new_play()
            done, step = False, 0
            while not done:
                action = policy(env) if policy else actions(obs[None])[0]
                obs, reward, terminated, truncated, info = env.step(action)
                done = terminated or truncated
                step += 1
                if saver is not None:
                    saver.offer(episode, step, env.frame_ms, env.last_grab, obs[-1])
                if view is not None and not view.show(obs, reward) and not done:
                    # closed by the player: the play ends here, as at its end
                    env.keys.release_all()
                    info = dict(env.judging.summary(env.last_live), timing=env.stats.summary())
                    break
            plays.append(_play_result(env, info))
            timings.append(info.get("timing"))
            in_play = False
            if view is not None and view.window.closed:
                break
    except KeyboardInterrupt:
        # Ctrl+C: keys let go at once, the plays so far printed (this one as judged so far)
        interrupted = True
        env.keys.release_all()
        if in_play:
            info = dict(env.judging.summary(env.last_live), timing=env.stats.summary())
            plays.append(_play_result(env, info))
            timings.append(info.get("timing"))
    except (TimeoutError, ValueError, FileNotFoundError) as exc:
        raise CliError(str(exc)) from None
    finally:
        env.close()
        if view is not None:
            view.close()
            print(view.summary(), file=sys.stderr)
        if saver is not None:
            saver.close()
            print(_saved(saver), file=sys.stderr)
    if args.json:
        out = [dict(play.as_dict(), timing=t) for play, t in zip(plays, timings)]
        print(json.dumps(out, indent=2))
    else:
        print(results_table(plays))
    if interrupted:
        print("interrupted: the keys are released", file=sys.stderr)
        return 130
    return 0


def _view(args: argparse.Namespace, env: LiveManiaEnv, model: Any) -> LiveView | None:
    """The window of ``--show`` (None without it)."""
    if not args.show:
        return None
    import functools

    import pygame

    from ppomania.agent.live_view import LiveView
    from ppomania.agent.window import policy_outputs

    outputs = functools.partial(policy_outputs, model) if model is not None else None
    try:
        return LiveView(env, outputs)
    except pygame.error as exc:
        raise CliError(f"cannot open the window for --show: {exc}") from None


def _saver(args: argparse.Namespace) -> FrameSaver | None:
    """The frame saver of ``--save-frames`` (None without it)."""
    if args.save_frames is None:
        return None
    from ppomania.env.live_frame_saver import FrameSaver

    try:
        return FrameSaver(args.save_frames, args.save_every, args.save_limit)
    except (OSError, ValueError) as exc:
        raise CliError(f"cannot save frames to {args.save_frames}: {exc}") from None


def _saved(saver: FrameSaver) -> str:
    line = f"saved {saver.files} frame files to {saver.folder}"
    if saver.dropped:
        line += f" ({saver.dropped} steps skipped: the writer was behind)"
    if saver.error is not None:
        line += f"; writing failed: {saver.error}"
    return line


def _play_result(env: LiveManiaEnv, info: dict[str, Any]) -> PlayResult:
    """The play as eval reports it, from the game's own final state and our judge's events."""
    from ppomania.agent.evaluate import PlayResult
    from ppomania.game.rules import Mods

    game = env.last_live.state
    return PlayResult(
        beatmap=env.beatmap,
        mods=Mods.NONE,
        counts=info["game_counts"],
        score=int(game.score),
        max_combo=int(game.max_combo),
        failed=info.get("reason") == "failed",
        events=info["events"],
        results=info["results"],
    )


def _playfield(args: argparse.Namespace) -> Calibration | CaptureArea:
    """The capture area of ``--area``, else the calibration (with ``--skin`` in place of its skin).

    :raises CliError: neither.
    """
    from ppomania.live.capture import DEFAULT_CONFIG, load_calibration
    from ppomania.sim.render import CaptureArea

    if args.area:
        if args.skin:
            raise CliError("--skin needs a calibration (the game window); leave out --area")
        try:
            return CaptureArea(*(int(x) for x in args.area.split(",")))
        except (TypeError, ValueError):
            raise CliError(f"--area must be L,T,W,H, got {args.area!r}") from None
    try:
        playfield = load_calibration(args.config or DEFAULT_CONFIG)
    except (OSError, ValueError, TypeError) as exc:
        raise CliError(f"no calibration ({exc}); run ppomania calibrate or pass --area") from None
    return dataclasses.replace(playfield, skin=args.skin) if args.skin else playfield


def _game_map_keys(client: StateClient) -> int:
    """The key count of the map the game state names (to pick the bundled model before the map
    itself is found). :raises CliError: no game state within :data:`STATE_WAIT_S`."""
    live = client.wait_for(lambda state: state.snapshot is not None, STATE_WAIT_S)
    if live is None or live.snapshot is None:
        raise CliError(
            f"no game state from {client.url} to tell the map's key count "
            f"({client.last_error or 'nothing received'}): pass --map, --model or --policy"
        )
    return live.snapshot.beatmap.keys
