"""Where robot JavaScript runs: the interface (base) and its V8 implementation (miniracer)."""
