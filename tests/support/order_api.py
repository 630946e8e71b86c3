"""A stand-in for the demo's order API (bots.demo_views) on a real local HTTP server, for
tests whose database the server cannot share: it answers from the same orders the demo
loads, with the same token and shapes."""

from __future__ import annotations

from bots.demo import ORDERS
from bots.demo_views import demo_lookup_token
from tests.support.receiver_server import Answer, Received, start_receiver


def demo_order_answer(request: Received) -> Answer:
    if request.headers.get("Authorization") != f"Bearer {demo_lookup_token()}":
        return Answer(401, {"error": "unauthorized"})
    reference = request.path.rstrip("/").rsplit("/", 1)[-1].replace("%23", "").replace("%20", "").upper()
    for order_number, status, detail in ORDERS:
        if order_number == reference.lstrip("#"):
            return Answer(200, {"order": {"number": order_number, "status": status, "detail": detail}})
    return Answer(404, {"error": "not_found"})


def start_order_api():
    """(state, server): the receiver answering like the demo order API on any path."""
    state, server = start_receiver()
    state.route_all = demo_order_answer
    return state, server
