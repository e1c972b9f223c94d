"""The batched simulator: osu!stable's mania rules as numba kernels over ``(n_envs, …)`` arrays
(:mod:`~ppomania.sim.core`, :mod:`~ppomania.sim.kernel`), the maps packed for them
(:mod:`~ppomania.sim.packed`), the highway renderer (:mod:`~ppomania.sim.render`) and the map
sources (:mod:`~ppomania.sim.maps`, :mod:`~ppomania.sim.patterns`). Knows nothing of RL."""
