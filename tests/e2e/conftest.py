"""A real Handoff server for browser tests: migrated, demo data loaded, served by daphne
(`manage.py run_embedded`) in a subprocess on a free port, with tasks in-process and the
sandbox's stand-in Graph API. SQLite in a temporary file, or, when DATABASE_URL names
PostgreSQL, a separate database of its own. Chromium is Debian's /usr/bin/chromium."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import webhooks

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
DEMO_PASSWORD = "demo-e2e-pass"
PHONE_NUMBER_ID = "100000000000001"
APP_SECRET = "sandbox-app-secret"

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _database_url(tmp: Path) -> str:
    configured = os.environ.get("DATABASE_URL", "")
    if not configured.startswith(("postgres://", "postgresql://")):
        return f"sqlite:///{tmp / 'e2e.sqlite3'}"
    import psycopg

    base, _, _name = configured.rpartition("/")
    name = "handoff_e2e_desk"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{base}/{name}"


@dataclass
class Server:
    base: str
    port: int
    env: dict
    process: subprocess.Popen
    log: Path

    def manage(self, *args: str, timeout: float = 60) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True,
            timeout=timeout, check=False,
        )
        if result.returncode != 0:
            raise AssertionError(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def shell(self, code: str) -> str:
        """Run Python in a fresh process on the server's database (set-up the UI cannot do,
        such as letting time pass); what it prints comes back."""
        return self.manage("shell", "-c", code)

    def webhook(self, payload: dict) -> int:
        body = json.dumps(payload).encode()
        request = urllib.request.Request(
            f"{self.base}/webhooks/whatsapp/",
            data=body,
            headers={"Content-Type": "application/json", "X-Hub-Signature-256": webhooks.sign(body, APP_SECRET)},
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback test server
            return response.status

    def customer_says(self, text: str, *, wa_id: str, name: str) -> int:
        return self.webhook(webhooks.text_payload(text, wa_id=wa_id, name=name, phone_number_id=PHONE_NUMBER_ID))

    def status(self, wamid: str, status: str, *, wa_id: str) -> int:
        payload = webhooks.status_payload(wamid, status, recipient=wa_id)
        payload["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = PHONE_NUMBER_ID
        return self.webhook(payload)


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e-server")
    port = _free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "WHATSAPP_", "PYTEST_")) and key not in ("DATABASE_URL",)
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DEBUG": "1",
            "SECRET_KEY": "e2e-secret-key-for-the-browser-tests-0123456789abcdef",
            "DATABASE_URL": _database_url(tmp),
            "TASKS_MODE": "thread",
            "SANDBOX_ENABLED": "1",
            "DEMO_PASSWORD": DEMO_PASSWORD,
            "PORT": str(port),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "PRESENCE_AWAY_AFTER_SECONDS": "600",
            "DESK_WS_REVALIDATE_SECONDS": "2",
            "MEDIA_ROOT": str(tmp / "media"),
        }
    )
    env.pop("CELERY_BROKER_URL", None)
    log = tmp / "server.log"
    probe = Server(f"http://127.0.0.1:{port}", port, env, None, log)  # type: ignore[arg-type]
    probe.manage("migrate", "--noinput", timeout=180)
    probe.manage("load_demo", "--port", str(port))
    # Room for every conversation the tests hand to the demo agents, and nobody online
    # until a test says so: conversations go to the agent the test signs in.
    probe.shell("from agents.models import AgentProfile; from django.contrib.auth.models import User\n"
                "for u in User.objects.all(): AgentProfile.objects.update_or_create(user=u, defaults={'capacity': 50, 'presence': 'offline', 'away_is_automatic': False})")
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "run_embedded", "--port", str(port)],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    srv = Server(probe.base, port, env, process, log)
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"{srv.base}/accounts/login/", timeout=2):  # noqa: S310
                break
        except (urllib.error.URLError, ConnectionError):
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"server did not start:\n{log.read_text()}") from None
            time.sleep(0.2)
    yield srv
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(scope="package")
def browser():
    """Chromium for the browser tests of this package. Playwright's sync API keeps an event
    loop running in the main thread while it lives, which Django's sync-to-async bridges
    refuse, so it stops with the last test here instead of living on into the rest of the
    suite."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def sign_in(server, browser):
    """Open a fresh browser context signed in as `username`; returns its page."""
    contexts = []

    def _sign_in(username: str, *, width: int = 1400, height: int = 900):
        context = browser.new_context(viewport={"width": width, "height": height})
        contexts.append(context)
        page = context.new_page()
        page.errors = []
        page.on("pageerror", lambda exc: page.errors.append(str(exc)))
        page.goto(f"{server.base}/accounts/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", DEMO_PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{server.base}/desk/")
        page.wait_for_selector("#connection-status[data-state=live]")
        return page

    yield _sign_in
    for context in contexts:
        context.close()


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


class Customer:
    """A customer on the sandbox's simulated phone: what they send reaches the real webhook
    endpoint signed with the number's app secret; what the business sends them is recorded."""

    def __init__(self, request, name: str, wa_id: str):
        self.request = request
        self.name = name
        self.wa_id = wa_id
        response = request.post("/sandbox/api/phones/", data={"name": name, "wa_id": wa_id}, headers=_csrf(request))
        assert response.status == 201, response.text()
        self.phone = response.json()["phone"]["id"]

    def says(self, text: str) -> None:
        response = self.request.post(f"/sandbox/api/phones/{self.phone}/messages/", data={"text": text}, headers=_csrf(self.request))
        assert response.status == 201, response.text()

    def received(self) -> list[dict]:
        """Messages the business sent to this phone."""
        messages = self.request.get(f"/sandbox/api/phones/{self.phone}/").json()["messages"]
        return [m for m in messages if m["direction"] != "in"]

    def sends_file(self, name: str, mime: str, data: bytes, *, caption: str = "", voice: bool = False) -> None:
        """The customer sends a photo, a document or (with `voice`) a voice note."""
        form: dict = {"file": {"name": name, "mimeType": mime, "buffer": data}, "caption": caption}
        if voice:
            form["voice"] = "1"
        response = self.request.post(f"/sandbox/api/phones/{self.phone}/media/", multipart=form, headers=_csrf(self.request))
        assert response.status == 201, response.text()

    def reads(self, ids: list[int]) -> None:
        response = self.request.post(f"/sandbox/api/phones/{self.phone}/seen/", data={"ids": ids}, headers=_csrf(self.request))
        assert response.status == 200, response.text()


def _csrf(request) -> dict:
    token = next((c["value"] for c in request.storage_state()["cookies"] if c["name"] == "csrftoken"), "")
    return {"X-CSRFToken": token}


@pytest.fixture(scope="package")
def sandbox(server, browser):
    """A signed-in API client for the sandbox phone (as the demo admin)."""
    context = browser.new_context(base_url=server.base)
    page = context.new_page()
    page.goto("/accounts/login/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/desk/")
    page.close()
    yield context.request
    context.close()
