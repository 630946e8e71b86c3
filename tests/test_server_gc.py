"""The server process's garbage collector: tuned before serving, so a full collection does
not walk the objects made at start and runs rarely (a broadcast to a thousand sockets is
not stalled by it)."""

from __future__ import annotations

import gc

from config import server


def test_serving_freezes_startup_objects_and_collects_rarely(monkeypatch):
    before = gc.get_threshold()
    served = []
    monkeypatch.setattr(server.Server, "run", lambda self: served.append((gc.get_threshold(), gc.get_freeze_count())))
    try:
        server.HandoffServer(application=None, endpoints=["tcp:port=0:interface=127.0.0.1"]).run()
        (thresholds, frozen), = served
        assert thresholds == server.GC_THRESHOLDS
        assert frozen > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
