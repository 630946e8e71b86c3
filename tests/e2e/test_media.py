"""Media in the desk, in a real browser against a real server and the sandbox: a customer's
photo shows as a thumbnail opening full size and their voice note as a player (downloaded
through the stand-in Graph's media-id flow), and an agent attaches a file with a caption,
sees it upload, and the customer's phone receives it."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import Customer, screenshot
from tests.support import media_files

pytestmark = pytest.mark.e2e


def test_desk_shows_a_photo_and_a_voice_note_and_an_agent_sends_a_file(server, sign_in, sandbox):
    page = sign_in("agent1")
    page.select_option("#presence-select", "online")
    page.wait_for_timeout(300)
    customer = Customer(sandbox, "Paula Photo", "15557770301")
    customer.says("I need a human agent please, the part is broken")
    row = page.locator("#conversation-list li", has_text="Paula Photo")
    expect(row).to_be_visible(timeout=20000)
    row.click()

    customer.sends_file("part.jpg", "image/jpeg", media_files.jpeg(), caption="this one")
    customer.sends_file("note.ogg", "audio/ogg", media_files.ogg_opus(), voice=True)

    image = page.locator("#transcript .msg.in a.media img.media-image")
    expect(image).to_be_visible(timeout=20000)
    page.wait_for_function("() => { const i = document.querySelector('#transcript img.media-image'); "
                           "return i && i.complete && i.naturalWidth > 0; }", timeout=10000)
    assert image.evaluate("i => i.naturalWidth") <= 320  # the thumbnail, not the full photo
    full = page.locator("#transcript .msg.in a.media").first.get_attribute("href")
    assert full and full.startswith("/media/")
    voice = page.locator("#transcript .msg.in .media-audio")
    expect(voice).to_contain_text("Voice note", timeout=20000)
    expect(voice.locator("audio")).to_have_attribute("src", re.compile(r"^/media/\d+/$"))

    page.click("#mode-reply")
    page.set_input_files("#composer-file", files=[{"name": "manual.pdf", "mimeType": "application/pdf",
                                                   "buffer": media_files.pdf()}])
    expect(page.locator("#attachment-preview")).to_contain_text("manual.pdf")
    page.fill("#composer-text", "Here is the manual")
    page.click("#composer-send")
    sent = page.locator("#transcript .msg.out", has_text="manual.pdf")
    expect(sent.locator("a.media-file")).to_contain_text("manual.pdf", timeout=20000)
    expect(sent.locator(".ticks")).to_have_attribute("data-status", "delivered", timeout=20000)
    expect(page.locator("#attachment-preview")).to_be_hidden()
    received = [m for m in customer.received() if m["type"] == "document"]
    assert received and received[0]["rendered"]["file_name"] == "manual.pdf"
    assert received[0]["rendered"]["body"] == "Here is the manual"
    screenshot(page, "desk-media")
    assert page.errors == []
