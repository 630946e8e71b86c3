"""`make bench`: run every benchmark section and print one table.

Each section module exposes `run() -> list[Row]`. Figures are reported against a
baseline measured in the same run (these machines are noisy), as a ratio.
Sections are chosen with `BENCH=intake,routing` (default: all).
"""

from __future__ import annotations

import importlib
import os
import sys
import time

from bench.common import Row, print_table

SECTIONS = ["intake", "routing", "realtime", "campaign", "compliance", "webhooks", "media", "webchat", "budget"]


def main() -> int:
    wanted = [s for s in os.environ.get("BENCH", ",".join(SECTIONS)).split(",") if s]
    rows: list[Row] = []
    failed = 0
    for name in wanted:
        try:
            module = importlib.import_module(f"bench.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"bench.{name}":
                raise
            print(f"[bench] no section named {name}", file=sys.stderr)
            continue
        started = time.monotonic()
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        section_rows = module.run()
        print(f"[bench] {name} done in {time.monotonic() - started:.1f}s", file=sys.stderr, flush=True)
        rows.extend(section_rows)
        failed += sum(1 for row in section_rows if row.ok is False)
    print_table(rows)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
