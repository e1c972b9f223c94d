"""ppomania: a PPO agent that learns to play osu!mania."""

__version__ = "0.1.0"
