"""``python -m bench``: every benchmark of the project."""

from bench import daemon_bench, lake_bench, robot_bench

robot_bench.main()
lake_bench.main()
daemon_bench.main()
