"""osu!stable skins: ``skin.ini`` (``ini``), files and image lookup (``files``), the stage's layout
in a window (``layout``), the default-like look the project generates (``elements``), and the
skin that draws what the agent trained on (``ppomania_skin``).

Sits beside ``ppomania.sim``: imports ``ppomania.game`` and the leaf modules only.
"""
