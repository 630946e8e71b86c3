"""The web chat widget in a real browser: a shop's page on another origin (a second local
server) embeds the snippet, twice, under a hostile stylesheet; a visitor fills the pre-chat
form, talks to the demo bot, asks for a person, and an agent in a second browser context
answers live, with text and files; reload and navigation keep the conversation; a second
visitor sees none of it; the offline form queues a conversation."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import screenshot
from tests.support import media_files

pytestmark = pytest.mark.e2e

HOSTILE_CSS = """
* { font-size: 3px !important; color: transparent !important; }
iframe { display: none !important; width: 0 !important; height: 0 !important; }
button { visibility: hidden !important; transform: scale(0) !important; }
div { opacity: 0 !important; position: static !important; }
"""


def _page(snippet: str, title: str) -> bytes:
    return f"""<!doctype html><html><head><title>{title}</title><style>{HOSTILE_CSS}</style></head>
<body><h1>{title}</h1><a id="next" href="/other.html">Another page</a>
{snippet}
{snippet}
</body></html>""".encode()


@pytest.fixture(scope="module")
def shop(server):
    """The shop's site on another origin (localhost instead of 127.0.0.1, another port),
    with an inbox that allows it and one, for the offline form, whose team is closed."""
    state: dict = {}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):  # noqa: N802 - http.server's name
            key = state["offline_key"] if self.path.startswith("/closed") else state["key"]
            snippet = f'<script src="{server.base}/widget.js" data-inbox="{key}" async></script>'
            body = _page(snippet, "Other page" if "other" in self.path else "Shop")
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    origin = f"http://localhost:{httpd.server_address[1]}"
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    keys = json.loads(server.shell(
        "import json\n"
        "from agents.models import BusinessHours, Team\n"
        "from conversations.models import WebChatInbox, WhatsAppNumber\n"
        "number = WhatsAppNumber.objects.get(is_default=True)\n"
        f"a = WebChatInbox.objects.create(name='Shop', number=number, team=Team.objects.get(slug='support'), allowed_origins='{origin}', greeting='We answer fast.')\n"
        "night, _ = Team.objects.get_or_create(slug='night', defaults={'name': 'Night'})\n"
        "BusinessHours.objects.get_or_create(team=night, weekday=0, opens='03:00', closes='03:01')\n"
        f"b = WebChatInbox.objects.create(name='Closed', number=number, team=night, allowed_origins='{origin}')\n"
        "print(json.dumps({'key': a.key, 'offline_key': b.key}))\n"
    ).strip().splitlines()[-1])
    state.update(keys)
    yield {"origin": origin, **keys}
    httpd.shutdown()
    httpd.server_close()


def _visitor(browser):
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    return context, page


def _open_chat(page, url):
    page.goto(url)
    page.click("#handoff-chat-launcher")
    frame = page.frame_locator("#handoff-chat-frame")
    expect(frame.locator("#chat-title")).to_be_visible(timeout=15000)
    return frame


def test_visitor_chats_with_the_bot_asks_for_a_person_and_an_agent_answers_live(server, browser, sign_in, shop):
    context, page = _visitor(browser)
    frame = _open_chat(page, f"{shop['origin']}/")
    assert page.locator("#handoff-chat-root").count() == 1  # pasted twice, loaded once
    assert page.locator("#handoff-chat-frame").is_visible()  # the hostile stylesheet hides nothing
    # The pre-chat form is checked on the server.
    frame.locator("#prechat-name").fill("Vera <b>Visitor</b>")
    frame.locator("#prechat-email").fill("not-an-email")
    frame.locator("#prechat-submit").click()
    expect(frame.locator("#prechat-error")).to_contain_text("valid email")
    frame.locator("#prechat-email").fill("vera@example.com")
    frame.locator("#prechat-submit").click()
    expect(frame.locator("#composer-text")).to_be_visible()

    frame.locator("#composer-text").fill("hello <script>alert(1)</script>")
    frame.locator("#composer-text").press("Enter")
    expect(frame.locator("#messages li.mine")).to_contain_text("hello <script>alert(1)</script>", timeout=15000)
    expect(frame.locator("#messages li.theirs").first).to_be_visible(timeout=20000)  # the bot answered
    expect(frame.locator("#messages .choices button").first).to_be_visible()  # its menu, as buttons

    agent = sign_in("agent1")
    agent.select_option("#presence-select", "online")
    agent.wait_for_timeout(300)
    frame.locator("#talk-to-person").click()
    row = agent.locator("#conversation-list li", has_text="Vera <b>Visitor</b>")
    expect(row).to_be_visible(timeout=20000)
    expect(row.locator(".channel")).to_have_text("Web chat")
    row.click()
    expect(agent.locator("#window-countdown")).to_have_text("Web chat: no 24-hour window")
    # Typing shows in the desk. Typed as a person types: the frame says so at most every 2 s,
    # so a desk that opened the conversation a moment ago hears the next one.
    frame.locator("#composer-text").press_sequentially("are you there?", delay=200)
    expect(agent.locator("#typing-line")).to_contain_text("typing", timeout=10000)
    frame.locator("#composer-text").press("Enter")
    agent.click("#mode-reply")
    agent.fill("#composer-text", "Hi Vera, Sam here.")
    agent.press("#composer-text", "Enter")
    expect(frame.locator("#messages li.theirs", has_text="Hi Vera, Sam here.")).to_be_visible(timeout=15000)
    expect(frame.locator("#messages li.mine .mark").last).to_have_text("Read", timeout=15000)
    reply = agent.locator("#transcript .msg.out", has_text="Sam here")
    expect(reply.locator(".ticks")).to_have_attribute("data-status", "read", timeout=15000)
    screenshot(page, "webchat-visitor")

    # Reload and another page of the site keep the conversation.
    page.reload()
    page.click("#handoff-chat-launcher")
    expect(page.frame_locator("#handoff-chat-frame").locator("#messages")).to_contain_text("Sam here", timeout=15000)
    page.click("#next")
    page.click("#handoff-chat-launcher")
    again = page.frame_locator("#handoff-chat-frame")
    expect(again.locator("#messages")).to_contain_text("Sam here", timeout=15000)
    agent.fill("#composer-text", "Still here after you moved.")
    agent.press("#composer-text", "Enter")
    expect(again.locator("#messages")).to_contain_text("Still here after you moved.", timeout=15000)

    # Files from the agent: an image by its thumbnail (opening full size), a document as a
    # download with its name and size, each by a link signed for that file (never the visitor's token).
    agent.set_input_files("#composer-file", files=[{"name": "map.jpg", "mimeType": "image/jpeg",
                                                    "buffer": media_files.jpeg()}])
    agent.fill("#composer-text", "Here is the map")
    agent.click("#composer-send")
    image = again.locator("#messages li.theirs a.media img.media-image")
    expect(image).to_be_visible(timeout=15000)
    expect(again.locator("#messages li.theirs:has(img.media-image)")).to_contain_text("Here is the map")
    image.evaluate("i => i.complete ? null : new Promise((ok, ko) => { i.onload = ok; i.onerror = ko; })")
    assert 0 < image.evaluate("i => i.naturalWidth") <= 320  # the thumbnail, not the 800-pixel photo
    full = again.locator("#messages li.theirs a.media").get_attribute("href") or ""
    assert "/media/" in full and "sig=" in full and "token=" not in full and "thumbnail" not in full
    agent.set_input_files("#composer-file", files=[{"name": "terms.pdf", "mimeType": "application/pdf",
                                                    "buffer": media_files.pdf()}])
    agent.click("#composer-send")
    document = again.locator("#messages li.theirs a.media-file")
    expect(document).to_have_text("terms.pdf", timeout=15000)
    expect(document).to_have_attribute("download", "terms.pdf")
    assert document.evaluate("a => fetch(a.href).then((r) => r.status)") == 200
    assert "token=" not in (document.get_attribute("href") or "")
    expect(again.locator("#messages li.theirs .media-size")).to_contain_text("KB")

    # A second visitor sees none of it.
    other_context, other = _visitor(browser)
    other_frame = _open_chat(other, f"{shop['origin']}/")
    expect(other_frame.locator("#prechat-form")).to_be_visible()
    other_frame.locator("#prechat-name").fill("Otto")
    other_frame.locator("#prechat-email").fill("otto@example.com")
    other_frame.locator("#prechat-submit").click()
    expect(other_frame.locator("#composer-text")).to_be_visible()
    agent.fill("#composer-text", "Only for Vera.")
    agent.press("#composer-text", "Enter")
    expect(again.locator("#messages")).to_contain_text("Only for Vera.", timeout=15000)
    other.wait_for_timeout(1000)
    assert other_frame.locator("#messages li").count() == 0
    assert page.errors == [] and other.errors == [] and agent.errors == []
    other_context.close()
    context.close()


def test_offline_form_queues_a_conversation(server, browser, shop):
    context, page = _visitor(browser)
    frame = _open_chat(page, f"{shop['origin']}/closed")
    expect(frame.locator("#offline-form")).to_be_visible(timeout=15000)
    frame.locator("#offline-name").fill("Nora Night")
    frame.locator("#offline-email").fill("nora@example.com")
    frame.locator("#offline-text").fill("Please call me back tomorrow.")
    frame.locator("#offline-submit").click()
    expect(frame.locator("#offline-done")).to_be_visible(timeout=15000)
    status = server.shell(
        "from conversations.models import Conversation\n"
        "c = Conversation.objects.get(contact__profile_name='Nora Night')\n"
        "print(c.status, c.channel, c.team.slug)\n"
    ).strip().splitlines()[-1]
    assert status == "queued webchat night"
    assert page.errors == []
    context.close()


def test_a_site_not_allowed_cannot_show_the_chat(server, browser, shop):
    context, page = _visitor(browser)
    page.goto(f"{server.base}/webchat/{shop['key']}/?origin=https://evil.example")
    expect(page.locator("#webchat-refused")).to_be_visible()
    context.close()
