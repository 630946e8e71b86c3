"""The `make run` shape end to end: one daphne process with tasks in threads, SQLite in a
file. The simulated customer's "hello" travels as a signed webhook into a conversation;
a business message sent to the stand-in Graph comes back as signed status webhooks
(sent, delivered, then read once the phone shows it). Bounded waits, no sleeps asserted."""

from __future__ import annotations

import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
DEMO_TOKEN = "sandbox-access-token"
DEMO_NUMBER_ID = "100000000000001"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check: Callable[[], object], what: str, timeout: float = 20.0) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"gave up waiting for {what}")


@pytest.fixture(scope="module")
def embedded_server(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("embedded")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WHATSAPP_", "REDIS_", "CELERY_", "SANDBOX_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DEBUG="1",
        DATABASE_URL=f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        TASKS_MODE="thread",
        PORT=str(port),
    )
    env.pop("TEST_TASKS_MODE", None)
    manage = [sys.executable, str(ROOT / "manage.py")]
    for command in (["migrate", "--noinput", "-v", "0"], ["load_demo"]):
        subprocess.run(manage + command, cwd=ROOT, env=env, check=True, timeout=180, capture_output=True)
    log = (tmp_path / "server.log").open("wb")
    server = subprocess.Popen(manage + ["run_embedded", "--port", str(port)], cwd=ROOT, env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:

        def up() -> bool:
            try:
                return httpx.get(base + "/healthz", timeout=1).status_code < 500
            except httpx.HTTPError:
                return False

        wait_for(up, "the server to start", timeout=60)
        database = sqlite3.connect(tmp_path / "demo.sqlite3", timeout=20)
        yield base, database
        database.close()
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def signed_in_client(base: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=10)
    client.get("/admin/login/")
    signed = client.post(
        "/admin/login/?next=/sandbox/",
        data={"username": "admin", "password": "demo", "csrfmiddlewaretoken": client.cookies["csrftoken"]},
        headers={"Referer": base + "/admin/login/"},
    )
    assert signed.status_code == 302
    return client


def graph_send(base: str, body: dict) -> str:
    answer = httpx.post(
        f"{base}/sandbox/graph/v23.0/{DEMO_NUMBER_ID}/messages",
        json={"messaging_product": "whatsapp", **body},
        headers={"Authorization": f"Bearer {DEMO_TOKEN}"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["messages"][0]["id"]


@pytest.mark.e2e
def test_hello_from_the_phone_becomes_a_conversation_and_statuses_come_back(embedded_server):
    base, database = embedded_server
    client = signed_in_client(base)
    page = client.get("/sandbox/")
    assert page.status_code == 200
    csrf = {"X-CSRFToken": re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)}
    phone = client.post("/sandbox/api/phones/", json={"name": "Ana Customer", "wa_id": "15551230000"}, headers=csrf).json()["phone"]

    sent = client.post(f"/sandbox/api/phones/{phone['id']}/messages/", json={"text": "hello"}, headers=csrf)
    assert sent.status_code == 201

    def stored_hello():
        return database.execute(
            "SELECT m.conversation_id FROM conversations_message m JOIN conversations_conversation c ON c.id = m.conversation_id "
            "JOIN conversations_contact p ON p.id = c.contact_id WHERE m.direction = 'in' AND m.text = 'hello' AND p.wa_id = ?",
            ("15551230000",),
        ).fetchone()

    assert wait_for(stored_hello, "the webhook to become a conversation message")
    shown = client.get(f"/sandbox/api/phones/{phone['id']}/").json()["messages"]
    assert shown[0]["text"] == "hello" and shown[0]["status"] in ("delivered", "read")

    # The business writes through the stand-in Graph, as the delivery client does.
    wamid = graph_send(base, {"to": "15551230000", "type": "text", "text": {"body": "Hi Ana!"}})

    def statuses() -> set[str]:
        rows = database.execute(
            "SELECT status FROM conversations_messagestatusevent WHERE provider_message_id = ?", (wamid,)
        ).fetchall()
        return {row[0] for row in rows}

    wait_for(lambda: {"sent", "delivered"} <= statuses(), "sent and delivered status webhooks")
    assert "read" not in statuses()

    on_phone = next(m for m in client.get(f"/sandbox/api/phones/{phone['id']}/").json()["messages"] if m["wamid"] == wamid)
    assert on_phone["status"] == "delivered"
    client.post(f"/sandbox/api/phones/{phone['id']}/seen/", json={"ids": [on_phone["id"]]}, headers=csrf)
    wait_for(lambda: "read" in statuses(), "the read status webhook")


@pytest.mark.e2e
def test_in_the_browser_customer_text_stays_text_and_a_tapped_button_reaches_the_business(embedded_server):
    base, database = embedded_server
    attack = '<img src=x onerror="window.pwned=1">'

    def in_the_browser() -> None:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
            try:
                page = browser.new_page()
                page.set_default_timeout(15000)
                page.goto(base + "/admin/login/?next=/sandbox/")
                page.fill("#id_username", "admin")
                page.fill("#id_password", "demo")
                page.click("input[type=submit]")
                page.wait_for_url("**/sandbox/")
                page.fill("#np-name", "<b>Carla</b>")
                page.fill("#np-wa", "15557654321")
                page.click("#new-phone button[type=submit]")
                page.wait_for_function("document.getElementById('chat-title').textContent === '<b>Carla</b>'")
                page.fill("#text", attack)
                page.click("#send")
                page.locator("#thread .bubble.in .body", has_text="onerror").wait_for()

                assert page.locator("#thread img, #phones b, #chat-title b").count() == 0
                assert page.locator("#thread .bubble.in .body").last.text_content() == attack
                assert page.evaluate("window.pwned") is None

                graph_send(
                    base,
                    {
                        "to": "15557654321",
                        "type": "interactive",
                        "interactive": {
                            "type": "button",
                            "body": {"text": "Shall we call you back?"},
                            "action": {"buttons": [{"type": "reply", "reply": {"id": "callback-yes", "title": "Yes, call me"}}]},
                        },
                    },
                )
                page.get_by_role("button", name="Yes, call me").click()
                page.locator("#thread .bubble.in .body", has_text="Yes, call me").wait_for()
            finally:
                browser.close()

    # Playwright's sync API needs a thread without a running event loop (other browser
    # tests in the same session may have left one on the main thread).
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(in_the_browser).result(timeout=120)

    def tapped():
        return database.execute(
            "SELECT type, text FROM conversations_message WHERE direction = 'in' AND type = 'interactive' "
            "AND payload LIKE '%callback-yes%'"
        ).fetchone()

    assert wait_for(tapped, "the button reply to arrive as a webhook")
