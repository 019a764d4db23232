"""``python -m bench``: every benchmark of the project."""

from bench import robot_bench

robot_bench.main()
