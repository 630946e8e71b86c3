"""Media in the desk, in a real browser against a real server and the sandbox: a customer's
photo shows as a thumbnail opening full size and their voice note as a player (downloaded
through the stand-in Graph's media-id flow), and an agent attaches a file with a caption,
sees it upload, and the customer's phone receives it."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import PHONE_NUMBER_ID, Customer, screenshot
from tests.support import media_files, webhooks

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


def test_a_failed_download_shows_why_with_retry_and_a_dropped_file_is_attached(server, sign_in, sandbox):
    page = sign_in("agent1")
    page.select_option("#presence-select", "online")
    page.wait_for_timeout(300)
    customer = Customer(sandbox, "Dora Drop", "15557770302")
    customer.says("I need a human agent please")
    row = page.locator("#conversation-list li", has_text="Dora Drop")
    expect(row).to_be_visible(timeout=20000)
    row.click()

    image = webhooks.inbound_message("image", {"id": "999000111", "mime_type": "image/jpeg"}, wa_id="15557770302")
    assert server.webhook(webhooks.messages_payload([image], wa_id="15557770302", name="Dora Drop",
                                                    phone_number_id=PHONE_NUMBER_ID)) == 200
    failed = page.locator("#transcript .msg.in .media-failed")
    expect(failed).to_contain_text("could not be downloaded", timeout=20000)
    retry = failed.locator("button.media-retry")
    expect(retry).to_be_visible()
    retry.click()
    expect(page.locator("#transcript .msg.in .media-failed")).to_contain_text("could not be downloaded", timeout=20000)

    page.evaluate(
        """() => {
            const data = new DataTransfer();
            data.items.add(new File(["plain notes"], "notes.txt", { type: "text/plain" }));
            const zone = document.getElementById("composer");
            zone.dispatchEvent(new DragEvent("dragover", { dataTransfer: data, bubbles: true, cancelable: true }));
            zone.dispatchEvent(new DragEvent("drop", { dataTransfer: data, bubbles: true, cancelable: true }));
        }"""
    )
    expect(page.locator("#attachment-preview")).to_contain_text("notes.txt")
    page.click("#attachment-remove")
    expect(page.locator("#attachment-preview")).to_be_hidden()
    assert page.errors == []


def test_an_agent_pastes_a_screenshot_into_the_composer_and_the_customer_receives_it(server, sign_in, sandbox):
    page = sign_in("agent1")
    page.select_option("#presence-select", "online")
    page.wait_for_timeout(300)
    customer = Customer(sandbox, "Pia Paste", "15557770303")
    customer.says("I need a human agent please, where do I click?")
    row = page.locator("#conversation-list li", has_text="Pia Paste")
    expect(row).to_be_visible(timeout=20000)
    row.click()
    page.click("#mode-reply")

    # What a browser hands the page when a screenshot is pasted: a ClipboardEvent whose
    # clipboardData carries a File (named "image.png" by Chromium).
    screenshot_bytes = list(media_files.png(64, 48))
    page.evaluate(
        """(bytes) => {
            const data = new DataTransfer();
            data.items.add(new File([new Uint8Array(bytes)], "image.png", { type: "image/png" }));
            const text = document.getElementById("composer-text");
            text.focus();
            text.dispatchEvent(new ClipboardEvent("paste", { clipboardData: data, bubbles: true, cancelable: true }));
        }""",
        screenshot_bytes,
    )
    expect(page.locator("#attachment-preview")).to_be_visible()
    expect(page.locator("#attachment-name")).to_contain_text("image.png")
    assert page.locator("#composer-text").input_value() == ""  # the file was not pasted as text
    page.fill("#composer-text", "Click here")
    page.click("#composer-send")

    sent = page.locator("#transcript .msg.out", has_text="Click here")
    expect(sent.locator("a.media img.media-image")).to_be_visible(timeout=20000)
    expect(sent.locator(".ticks")).to_have_attribute("data-status", "delivered", timeout=20000)
    expect(page.locator("#attachment-preview")).to_be_hidden()
    received = [m for m in customer.received() if m["type"] == "image"]
    assert len(received) == 1
    assert received[0]["rendered"]["mime_type"] == "image/png"
    assert received[0]["rendered"]["body"] == "Click here"
    shown = sandbox.get(received[0]["rendered"]["media_url"])
    assert shown.status == 200 and shown.body() == bytes(screenshot_bytes)
    assert page.errors == []
