"""Benchmark settings: the real settings, with a bench-only URL (a bare async view used
as the baseline on the same server)."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
