"""``ppomania play --show --save-frames`` against the stand-in game on an Xvfb display: the window
shows what the agent sees while it plays, and the grabs and perceived frames are saved."""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections.abc import Callable, Iterator

import numpy as np

from ppomania.cli import main
from ppomania.env.spaces import default_geometry
from ppomania.game.beatmap import load_beatmap
from test_live_e2e import Standin, _cut_map, _keys_down, display  # noqa: F401 (a fixture)


def _read_png(path):
    import pygame

    image = pygame.image.load(str(path))
    return pygame.surfarray.array3d(image).transpose(1, 0, 2)  # (H, W, 3)


def _window_shown(timeout_s: float = 60.0) -> bool:
    """Wait for ``--show``'s window (imports and connecting take a while)."""
    import pygame

    deadline = time.monotonic() + timeout_s
    while pygame.display.get_surface() is None:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@contextlib.contextmanager
def _beside_the_play(
    x_display: str, standin: Standin, watch: Callable[[threading.Event], None]
) -> Iterator[threading.Event]:
    """Run ``watch(played)`` in a thread while the block plays; whatever happens, ``played`` is
    set at the end, the thread joined, no key may be left down, and the stand-in stops."""
    played = threading.Event()
    thread = threading.Thread(target=watch, args=(played,), daemon=True)
    thread.start()
    try:
        yield played
    finally:
        played.set()
        thread.join()
        assert _keys_down(x_display) == []
        standin.stop()


def test_play_shows_the_window_and_saves_frames(display, tmp_path, capsys, monkeypatch):  # noqa: F811
    import mss

    from ppomania.live.capture import save_calibration

    map_path = _cut_map(tmp_path, 5000)
    standin = Standin(display, map_path)
    config = save_calibration(standin.playfield, tmp_path / "live.json")
    # beside the stand-in's window: over it, the window would hide the playfield from the capture
    left = standin.ready["window"][0] + 8
    monkeypatch.setenv("SDL_VIDEO_WINDOW_POS", f"{left},0")
    frames = tmp_path / "frames"
    shots = []

    def screenshot(played: threading.Event) -> None:
        """While the window is up, until the play ends (draws wait for it)."""
        if not _window_shown():
            return
        with mss.MSS() as sct:
            while not played.wait(0.25):
                area = {"left": left, "top": 0, "width": 300, "height": 200}
                shots.append(np.asarray(sct.grab(area)))

    with _beside_the_play(display, standin, screenshot) as played:
        command = ["play", "--policy", "autoplay", "--map", str(map_path), "--config", str(config)]
        command += ["--port", str(standin.port), "--json", "--realtime", "--show"]
        command += ["--save-frames", str(frames), "--save-every", "20"]
        assert main(command) == 0
        played.set()
        captured = capsys.readouterr()
        (play,) = json.loads(captured.out)
    print(captured.err, play["timing"])
    assert play["accuracy"] >= 90.0
    draws = re.search(r"window: (\d+) draws, ([\d.]+) ms mean", captured.err)
    assert draws and int(draws[1]) > 10, captured.err
    assert any(shot[..., :3].max() > 0 for shot in shots)
    grabs = sorted(frames.glob("*_grab.png"))
    perceived = sorted(frames.glob("*_frame.png"))
    assert len(grabs) == len(perceived) > 5
    shape = default_geometry(4).shape
    assert _read_png(perceived[len(perceived) // 2]).shape[:2] == shape
    assert _read_png(grabs[0]).shape[:2] != shape
    assert _read_png(perceived[len(perceived) // 2]).max() > 0


def test_closing_the_window_ends_the_play_with_its_results(display, tmp_path, capsys, monkeypatch):  # noqa: F811
    import pygame

    from ppomania.live.capture import save_calibration

    map_path = _cut_map(tmp_path, 20000)
    standin = Standin(display, map_path)
    config = save_calibration(standin.playfield, tmp_path / "live.json")
    monkeypatch.setenv("SDL_VIDEO_WINDOW_POS", f"{standin.ready['window'][0] + 8},0")
    shown_at = []

    def close_soon(played: threading.Event) -> None:  # the close button a few seconds in
        if not _window_shown():
            return
        shown_at.append(time.monotonic())
        time.sleep(4.0)
        # SDL takes events from any thread. Clicked again until the play stops: a close that came
        # while the window was being set up was once lost (a player would click again).
        while not played.wait(0.5):
            pygame.event.post(pygame.event.Event(pygame.QUIT))

    with _beside_the_play(display, standin, close_soon) as played:
        command = ["play", "--policy", "autoplay", "--map", str(map_path), "--config", str(config)]
        assert main([*command, "--port", str(standin.port), "--json", "--show"]) == 0
        played.set()
        elapsed = time.monotonic() - shown_at[0]
        captured = capsys.readouterr()
        (play,) = json.loads(captured.out)
    assert elapsed < 15, captured.err  # well before the map's end
    judged = sum(play[k] for k in ("max", "300", "200", "100", "50", "miss"))
    assert 0 < judged < load_beatmap(map_path).n_objects
    assert play["accuracy"] >= 90.0


def test_frame_saver_saves_every_nth_step_up_to_its_limit(tmp_path):
    from ppomania.env.live_frame_saver import FrameSaver

    saver = FrameSaver(tmp_path, every=3, limit=6)
    grab, frame = np.zeros((30, 20, 4), np.uint8), np.zeros((8, 5), np.uint8)
    for step in range(1, 20):
        frame[:] = step  # the loop reuses its buffers: what was offered is a copy
        saver.offer(0, step, 100.0 * step - 250, grab, frame)
    saver.close()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [
        f"00-{step:06d}_{ms}ms_{kind}.png"
        for step, ms in ((3, "+000050"), (6, "+000350"), (9, "+000650"))
        for kind in ("frame", "grab")
    ]
    assert _read_png(tmp_path / names[0]).shape == (8, 5, 3)
    assert _read_png(tmp_path / names[0]).max() == 3
