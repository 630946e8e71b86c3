"""The desk socket's frame rules: each one closes or refuses with its own documented code
and never as a server error (close 1011, an ERROR log record).

Codes: too big 4413, too fast 4429 (both close the socket); not a JSON object, unknown
action or a bad conversation id get an error frame with code "invalid" and the socket
stays open. Checked against the ASGI application (with the log captured) and over the
wire against a real server, since the server, not the application, decides which close
codes may be sent."""

from __future__ import annotations

import json
import logging

import pytest

from tests.desk.conftest import open_desk
from tests.support.live_server import Closed, WebSocket, start_live_server

CLOSE_TOO_BIG = 4413
CLOSE_TOO_FAST = 4429

BIG_FRAME = '{"action": "ping", "pad": "' + "x" * 8192 + '"}'
NESTED = "[" * 2000 + "]" * 2000  # under the size cap, deeper than the JSON decoder recurses


async def _closed_with(socket) -> int:
    output = await socket.receive_output(timeout=3)
    assert output["type"] == "websocket.close", output
    return output.get("code")


def _errors(caplog) -> list[str]:
    return [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.django_db(transaction=True)
class TestOnTheApplication:
    async def test_big_frame_closes_with_too_big(self, cookies, caplog):
        mine = await open_desk(cookies["agent"])
        await mine.send_to(text_data=BIG_FRAME)
        assert await _closed_with(mine) == CLOSE_TOO_BIG
        assert _errors(caplog) == []

    async def test_big_binary_frame_closes_with_too_big(self, cookies, caplog):
        mine = await open_desk(cookies["agent"])
        await mine.send_to(bytes_data=b"x" * 8192)
        assert await _closed_with(mine) == CLOSE_TOO_BIG
        assert _errors(caplog) == []

    async def test_flood_closes_with_too_fast(self, cookies, caplog):
        mine = await open_desk(cookies["agent"])
        for _ in range(20):
            await mine.send_json_to({"action": "ping"})
            assert (await mine.receive_json_from())["type"] == "pong"
        await mine.send_json_to({"action": "ping"})
        assert await _closed_with(mine) == CLOSE_TOO_FAST
        assert _errors(caplog) == []

    @pytest.mark.parametrize(
        "frame",
        [
            "not json",
            "[1, 2]",
            '"a string"',
            NESTED,
            '{"action": "ping"',
            '{"action": "unknown"}',
            '{"action": 7}',
            '{"action": "subscribe", "conversation": "1; drop"}',
            '{"action": "subscribe", "conversation": true}',
            '{"action": "subscribe", "conversation": -1}',
            '{"action": "subscribe", "conversation": 123456789012345678901234567890}',
            '{"action": "typing", "conversation": 9223372036854775808}',
        ],
    )
    async def test_bad_frame_gets_an_error_frame_and_the_socket_stays(self, cookies, caplog, frame):
        mine = await open_desk(cookies["agent"])
        await mine.send_to(text_data=frame)
        error = await mine.receive_json_from(timeout=3)
        assert error["type"] == "error"
        assert error["code"] == "invalid"
        await mine.send_json_to({"action": "ping"})
        assert (await mine.receive_json_from())["type"] == "pong"
        await mine.disconnect()
        assert _errors(caplog) == []

    async def test_binary_frame_under_the_cap_gets_an_error_frame(self, cookies, caplog):
        mine = await open_desk(cookies["agent"])
        await mine.send_to(bytes_data=b'{"action": "ping"}')
        assert (await mine.receive_json_from())["code"] == "invalid"
        await mine.disconnect()
        assert _errors(caplog) == []


@pytest.fixture(scope="module")
def desk_server(tmp_path_factory):
    live = start_live_server(tmp_path_factory.mktemp("frames"), "run_embedded")
    live.extra["cookie"] = live.session_cookie()
    yield live
    live.stop()


@pytest.fixture
def desk(desk_server):
    """A desk socket on the real server; the server must log no error while it is used."""
    mark = desk_server.log_mark()
    socket = WebSocket(desk_server.port, "/ws/desk/", desk_server.extra["cookie"])
    assert socket.receive()["type"] == "hello"
    yield socket
    socket.close()
    log = desk_server.log_since(mark)
    assert "Traceback" not in log, log
    assert " ERROR " not in log, log


@pytest.mark.e2e
class TestOverTheWire:
    def test_big_frame_closes_with_too_big_not_a_server_error(self, desk):
        desk.send_text(BIG_FRAME)
        with pytest.raises(Closed) as closed:
            desk.receive()
        assert closed.value.code == CLOSE_TOO_BIG

    def test_flood_closes_with_too_fast(self, desk):
        for _ in range(20):
            desk.send_json({"action": "ping"})
            assert desk.receive()["type"] == "pong"
        desk.send_json({"action": "ping"})
        with pytest.raises(Closed) as closed:
            desk.receive()
        assert closed.value.code == CLOSE_TOO_FAST

    @pytest.mark.parametrize(
        "frame",
        ["not json", NESTED, '{"action": "unknown"}', '{"action": "subscribe", "conversation": 99999999999999999999}'],
    )
    def test_bad_frame_gets_an_error_frame(self, desk, frame):
        desk.send_text(frame)
        error = desk.receive()
        assert (error["type"], error["code"]) == ("error", "invalid")
        desk.send_text(json.dumps({"action": "ping"}))
        assert desk.receive()["type"] == "pong"
