"""Web chat figures against a real daphne process on loopback (the realtime section's server).

(a) Visitor message → `message.created` on the agent's desk socket, and agent reply (the API)
    → `message` on the visitor's socket, at 10 and 40 messages/s, against the same bare
    `group_send` echo as the desk (p50, p99, ratio), and against the WhatsApp path measured in
    the same run (signed webhook → desk frame). Target: within 1.5× of the WhatsApp path.
(b) Idle widget sockets (distinct visitors) held by that one process, in steps up to 1,000:
    resident memory per socket (least-squares slope). Target: under 60 KB each at 1,000.

Each path runs 10 s steady at each rate (long enough for a queue to build where the server
cannot keep up), one after another, each once the one before has been worked off. `BENCH_WEBCHAT_SMALL=1` runs a tiny version (a second of load, 20 and 50
sockets) to check the section works. The whole section takes about four minutes.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import sys
import time

from bench.common import Row, least_squares_slope, percentile
from bench.realtime import (
    APP_SECRET,
    PHONE_NUMBER_ID,
    Server,
    Socket,
    SocketPool,
    _paced,
    _publisher_layer,
    _session_cookie,
    _webhook_body,
)
from config.realtime import desk_message

SECTION = "webchat"
SMALL = bool(os.environ.get("BENCH_WEBCHAT_SMALL"))
RATES = [(10, 1.0), (40, 1.0)] if SMALL else [(10, 10.0), (40, 10.0)]  # 10 s steady per path and rate
DRAIN_SECONDS = 30.0  # at most, after each path, for its frames before the next path starts
STEPS = [20, 50] if SMALL else [200, 500, 1000]
DEADLINE = 85.0 if SMALL else 400.0  # the idle sockets part runs after the latency part, within this

WEBCHAT_SETUP = """
import json
from django.utils import timezone
from django.contrib.auth.models import User
from rest_framework.authtoken.models import Token
from agents.models import Team
from conversations.models import Contact, Conversation, WebChatInbox, WhatsAppNumber
from conversations.providers.webchat.tokens import Visitor, token_issue
agent = User.objects.get(username="agent1")
number = WhatsAppNumber.objects.get(phone_number_id="{pnid}")
inbox = WebChatInbox.objects.create(name="Bench", number=number, team=Team.objects.get(slug="support"),
    allowed_origins="https://bench.example", ask_name=False, ask_email=False)
visitor = Visitor(inbox.pk, "a:" + "b" * 32, "https://bench.example")
contact = Contact.objects.create(number=number, user_id=visitor.contact_user_id, webchat_inbox=inbox,
    profile_name="Bench visitor", attributes={{"prechat_at": timezone.now().isoformat()}})
conv = Conversation.objects.create(number=number, contact=contact, channel="webchat", team=inbox.team,
    status="assigned", assignee=agent, assigned_at=timezone.now(), queued_at=timezone.now())
idle = [token_issue(Visitor(inbox.pk, "a:%032x" % i, "https://bench.example")) for i in range({idle})]
print(json.dumps({{"key": inbox.key, "token": token_issue(visitor), "conversation": conv.pk,
    "api_token": Token.objects.get_or_create(user=agent)[0].key, "idle": idle}}))
"""


async def _visitor(port: int, key: str, token: str) -> Socket:
    ws = await Socket.open(port, f"/ws/webchat/{key}/?token={token}", cookie="")
    hello = await asyncio.wait_for(ws.recv(), timeout=20)
    if hello.get("type") != "hello":
        raise ConnectionError(str(hello))
    return ws


async def _latency(server: Server, cookie: str, layer, setup: dict) -> list[Row]:
    import httpx

    desk = await Socket.open(server.port, "/ws/desk/", cookie)
    await desk.recv()  # hello
    visitor = await _visitor(server.port, setup["key"], setup["token"])
    arrivals: dict[str, float] = {}

    async def listen(ws: Socket, kinds: tuple[str, ...]):
        while True:
            frame = await ws.recv()
            if frame.get("type") == "bench.echo":
                arrivals[frame["key"]] = time.monotonic()
            elif frame.get("type") in kinds:
                arrivals.setdefault(frame["message"]["text"], time.monotonic())

    listeners = [asyncio.ensure_future(listen(desk, ("message.created",))),
                 asyncio.ensure_future(listen(visitor, ("message",)))]
    rows: list[Row] = []
    group = f"agent.{server.agent_id}"
    headers = {"Authorization": f"Token {setup['api_token']}"}
    messages_url = f"/api/v1/conversations/{setup['conversation']}/messages/"
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}", timeout=10) as client:
        for rate, seconds in RATES:
            sent: dict[str, float] = {}
            answered: dict[str, float] = {}

            async def echo(i, rate=rate, sent=sent):
                key = f"echo-{rate}-{i}"
                sent[key] = time.monotonic()
                await layer.group_send(group, desk_message({"type": "bench.echo", "key": key}))

            async def whatsapp(i, rate=rate, sent=sent):
                text = f"wa-{rate}-{i}"
                body = _webhook_body(text)
                signature = "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
                sent[text] = time.monotonic()
                await client.post("/webhooks/whatsapp/", content=body,
                                  headers={"Content-Type": "application/json", "X-Hub-Signature-256": signature})

            async def visitor_says(i, rate=rate, sent=sent):
                text = f"in-{rate}-{i}"
                sent[text] = time.monotonic()
                await visitor.send({"action": "message", "client_id": f"bench-{rate}-{i:06d}", "text": text})

            async def agent_replies(i, rate=rate, sent=sent, answered=answered):
                text = f"out-{rate}-{i}"
                sent[text] = time.monotonic()
                await client.post(messages_url, json={"text": text}, headers=headers)
                answered[text] = (time.monotonic() - sent[text]) * 1000

            for fire in (echo, whatsapp, visitor_says, agent_replies):
                await asyncio.gather(*await _paced(rate, seconds, fire))
                # Each path starts on a server that has worked off the one before: a queue
                # left behind would be measured as the next path's latency.
                waited = time.monotonic()
                while time.monotonic() - waited < DRAIN_SECONDS and any(k not in arrivals for k in sent):
                    await asyncio.sleep(0.05)

            def ms(prefix: str, sent=sent) -> list[float]:
                return [(arrivals[k] - t) * 1000 for k, t in sent.items() if k.startswith(prefix) and k in arrivals]

            base, wa = ms("echo"), ms("wa-")
            for prefix, figure in (("in-", "visitor message->desk frame"), ("out-", "agent reply->visitor frame")):
                real = ms(prefix)
                lost = sum(1 for k in sent if k.startswith(prefix) and k not in arrivals)
                p50, p99 = percentile(real, 50), percentile(real, 99)
                wa50 = percentile(wa, 50)
                versus = p50 / wa50 if wa50 == wa50 and wa50 > 0 else float("nan")
                rows += [
                    Row(SECTION, f"{figure} p50 @{rate}/s", p50, "ms", percentile(base, 50)),
                    Row(SECTION, f"{figure} p99 @{rate}/s", p99, "ms", percentile(base, 99)),
                    Row(SECTION, f"{figure} p50 vs WhatsApp path @{rate}/s", round(versus, 2), "x", None,
                        "<= 1.5x", versus <= 1.5),
                    Row(SECTION, f"{figure} frames missing @{rate}/s", lost, f"of {len(real) + lost}", None, "0",
                        lost == 0),
                ]
            rows.append(Row(SECTION, f"agent reply API answer p50 @{rate}/s", percentile(list(answered.values()), 50),
                            "ms"))
            rows.append(Row(SECTION, f"webhook->desk frame p50 @{rate}/s (WhatsApp path)", percentile(wa, 50), "ms",
                            percentile(base, 50)))
    for listener in listeners:
        listener.cancel()
    desk.close()
    visitor.close()
    return rows


async def _idle(server: Server, setup: dict, started: float) -> list[Row]:
    tokens = list(setup["idle"])
    pool = SocketPool("widget")
    sockets = pool.sockets
    baseline = server.rss_kb()
    points = [(0, baseline)]
    for step in STEPS:
        opened = await pool.fill(step, lambda: _visitor(server.port, setup["key"], tokens.pop()),
                                 until=started + DEADLINE - 10)
        if not opened:
            print(f"[bench] stopped at {len(sockets)} widget sockets: the time bound was reached", file=sys.stderr)
            break
        await asyncio.sleep(1.0)
        points.append((len(sockets), server.rss_kb()))
        print(f"[bench] {step} widget sockets: {points[-1][1] / 1024:.0f} MB", file=sys.stderr)
    slope = least_squares_slope(points)
    for s in sockets:
        s.close()
    held = points[-1][0]
    return [
        Row(SECTION, "idle widget sockets held (one daphne)", held, "connections", None, str(STEPS[-1]),
            held >= STEPS[-1]),
        Row(SECTION, "resident memory per widget socket (fit)", round(slope, 1), "KB", None, "< 60 KB", slope < 60),
    ]


async def _run(server: Server, setup: dict, started: float) -> list[Row]:
    layer = _publisher_layer()
    cookie = await _session_cookie(f"http://127.0.0.1:{server.port}", server.proxy_headers)
    rows = await _latency(server, cookie, layer, setup)
    print("\n".join(f"[bench] {r.figure}: {r.value}" for r in rows), file=sys.stderr)
    await asyncio.sleep(2)
    rows += await _idle(server, setup, started)
    if not os.environ.get("REDIS_URL"):
        await layer.flush()
    return rows


def run() -> list[Row]:
    started = time.monotonic()
    server = Server()
    server.env.update({"WEBCHAT_WS_RATE_FRAMES": "100000", "DESK_WS_RATE_FRAMES": "100000"})
    server.start()
    try:
        out = server.manage("shell", "-c", WEBCHAT_SETUP.format(pnid=PHONE_NUMBER_ID, idle=STEPS[-1] + 10))
        setup = json.loads(out.strip().splitlines()[-1])
        return asyncio.run(_run(server, setup, started))
    finally:
        server.stop()


if __name__ == "__main__":
    from bench.common import print_table

    print_table(run())
