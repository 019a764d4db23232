"""``python -m bench``: every benchmark of the project."""

from bench import lake_bench, robot_bench

robot_bench.main()
lake_bench.main()
