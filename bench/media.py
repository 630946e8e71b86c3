"""Inbound media: download throughput against a bare download, and what a media message
adds to the webhook's work and to the time until the desk can show the file.

A local HTTP server plays Graph and serves a 200 KB JPEG photo (1280 x 960) (`GET /{media-id}` answers its
URL, the URL answers the bytes). In one child process, on a fresh database:
- webhook processing: BENCH_MEDIA_COUNT text messages, then as many image messages,
  through `message_receive` (the task's work for one webhook item: message stored, desk
  told, for an image its media row recorded and its download queued); rate of each, the
  image's against the text's as baseline (target: >= 0.8, the download is not in it);
- download: the same images fetched by `media_download` (Graph lookup, capped streaming,
  MIME and SHA-256 checks, Pillow thumbnail, storage, the `message.updated` event) on
  BENCH_MEDIA_THREADS threads, against a bare download of the same bytes by the same
  threads with the same HTTP client in the same run (target: >= 0.5 of the bare rate);
- latency, one message at a time on an idle system: webhook item to the desk's
  `message.created` (text, and image), and to `message.updated` with the stored file.
Webhook intake itself (signature check, one insert) is the same for every message type
and is measured by the intake section.
"""

from __future__ import annotations

import io
import json
import os
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from bench.common import Row, child_result, percentile, production_env, run_in_threads

ROOT = Path(__file__).resolve().parents[1]
SECTION = "media"
COUNT = int(os.environ.get("BENCH_MEDIA_COUNT", "200"))
THREADS = int(os.environ.get("BENCH_MEDIA_THREADS", "4"))
SINGLES = int(os.environ.get("BENCH_MEDIA_SINGLES", "20"))
IMAGE_BYTES = 200 * 1024
TOKEN = "bench-media-token"


def _image() -> bytes:
    """A photo-sized JPEG (1280 x 960, as phones send them) of about 200 KB: a gradient
    with enough noise to reach that size."""
    from PIL import Image

    width, height = 1280, 960
    base = Image.linear_gradient("L").resize((width, height))
    sigma = 10.0
    while True:
        noise = Image.effect_noise((width, height), sigma)
        image = Image.merge("RGB", (base, noise, Image.blend(base, noise, 0.5)))
        out = io.BytesIO()
        image.save(out, "JPEG", quality=75)
        if out.tell() >= IMAGE_BYTES:
            return out.getvalue()
        sigma += 1.0


def _graph(data: bytes) -> tuple[ThreadingHTTPServer, str]:
    import hashlib

    sha = hashlib.sha256(data).hexdigest()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out as two writes: without TCP_NODELAY a small answer waits
        # for the client's delayed ACK (40 ms), which no real Graph server adds.
        disable_nagle_algorithm = True

        def log_message(self, *args):
            pass

        def do_GET(self):
            if self.path.startswith("/files/"):
                body, kind = data, "image/jpeg"
            else:
                media_id = self.path.split("?", 1)[0].rsplit("/", 1)[-1]
                base = f"http://127.0.0.1:{self.server.server_address[1]}"
                body = json.dumps({"url": f"{base}/files/{media_id}", "mime_type": "image/jpeg", "sha256": sha,
                                   "file_size": len(data), "id": media_id}).encode()
                kind = "application/json"
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def _threads(items: list, work) -> float:
    return run_in_threads(items, work, THREADS)


def _item(i: int, kind: str) -> tuple[dict, dict]:
    wa_id = f"1555700{i % 500:04d}"
    message: dict = {"from": wa_id, "id": f"wamid.BENCHMEDIA{kind}{i:07d}", "timestamp": str(int(time.time())),
                     "type": kind}
    if kind == "text":
        message["text"] = {"body": f"Hello {i}"}
    else:
        message["image"] = {"id": f"MEDIA{i:07d}", "mime_type": "image/jpeg", "caption": "the broken part"}
    return {"profile": {"name": f"Customer {i % 500}"}, "wa_id": wa_id}, message


def child() -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from django.core.management import call_command

    from conversations.media_thumbnails import media_thumbnail
    from conversations.models import MessageMedia, WhatsAppNumber
    from conversations.providers.whatsapp import _http
    from conversations.services.media_download import media_download
    from conversations.services.message_receive import message_receive

    call_command("migrate", verbosity=0, interactive=False)
    data = _image()
    server, base = _graph(data)
    number = WhatsAppNumber.objects.create(
        name="Bench", phone_number_id="bench-media", api_base=f"{base}/v23.0", access_token=TOKEN, is_default=True
    )

    def receive(i: int, kind: str):
        profile, message = _item(i, kind)
        return message_receive(number=number, profile=profile, message=message)

    # Warm-up (first queries, the HTTP client's pool, Pillow's decoders), not counted.
    warm = 10 ** 6
    for i in range(5):
        receive(warm + i, "text")
        media_download(media_id=receive(warm + i, "image").media.pk)
    MessageMedia.objects.all().delete()

    # Webhook processing: text, then images (downloads queued, not run).
    text_seconds = _threads(list(range(COUNT)), lambda i: receive(i, "text"))
    image_seconds = _threads(list(range(COUNT)), lambda i: receive(i, "image"))
    media_ids = list(MessageMedia.objects.values_list("pk", flat=True))

    # Bare download of the same bytes, then the download path, then bare again (the mean
    # of the two bare runs is the baseline, so a drift in speed weighs on both).
    client = _http()

    def bare(i: int) -> None:
        response = client.get(f"{base}/files/MEDIA{i:07d}", headers={"Authorization": f"Bearer {TOKEN}"})
        assert len(response.content) == len(data)

    bare_first = _threads(list(range(COUNT)), bare)
    # The thumbnail alone (Pillow's JPEG decode, whose entropy decoding no draft scale
    # shortens, and the small JPEG written): a floor under the download path's cost.
    thumb_seconds = _threads(list(range(COUNT)), lambda _i: media_thumbnail(data))
    outcomes: list[str] = []
    path_seconds = _threads(media_ids, lambda pk: outcomes.append(media_download(media_id=pk).outcome))
    bare_second = _threads(list(range(COUNT)), bare)
    stored = MessageMedia.objects.filter(state=MessageMedia.State.STORED).count()

    # One at a time, idle: to message.created (text, image) and to message.updated (file stored).
    text_ms, image_ms, file_ms = [], [], []
    for i in range(SINGLES):
        started = time.perf_counter()
        receive(COUNT + i, "text")
        text_ms.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        message = receive(COUNT + i, "image")
        image_ms.append((time.perf_counter() - started) * 1000)
        media_download(media_id=message.media.pk)
        file_ms.append((time.perf_counter() - started) * 1000)
    server.shutdown()
    bare_rate = 2 * COUNT / (bare_first + bare_second)
    print(json.dumps({
        "text_rate": COUNT / text_seconds,
        "image_rate": COUNT / image_seconds,
        "bare_rate": bare_rate,
        "path_rate": len(media_ids) / path_seconds,
        "thumb_rate": COUNT / thumb_seconds,
        "stored": stored,
        "queued": len(media_ids),
        "failed": sum(1 for o in outcomes if o != "stored"),
        "text_ms": percentile(text_ms, 50),
        "image_ms": percentile(image_ms, 50),
        "file_ms": percentile(file_ms, 50),
        "file_p99_ms": percentile(file_ms, 99),
        "kb": len(data) // 1024,
    }))


def run() -> list[Row]:
    with tempfile.TemporaryDirectory() as tmp:
        env = production_env(TASKS_MODE="celery", CELERY_BROKER_URL="memory://", REDIS_URL="",
                             MEDIA_ROOT=f"{tmp}/media", MEDIA_DOWNLOAD_HOSTS="127.0.0.1",
                             DATABASE_URL=f"sqlite:///{tmp}/media.sqlite3")
        r = child_result("bench.media", env, timeout=900)
    if r is None:
        return [Row(SECTION, "media run", "error", ok=False)]
    processing = r["image_rate"] / r["text_rate"] if r["text_rate"] else 0.0
    download = r["path_rate"] / r["bare_rate"] if r["bare_rate"] else 0.0
    return [
        Row(SECTION, "webhook item processing, image (base: text) /s", round(r["image_rate"], 1), "/s",
            round(r["text_rate"], 1), ">= 0.8 x text", processing >= 0.8),
        Row(SECTION, f"media downloaded+thumbnailed+stored ({r['kb']} KB, {THREADS} threads)", round(r["path_rate"], 1),
            "media/s", round(r["bare_rate"], 1), ">= 0.5 x bare download", download >= 0.5),
        Row(SECTION, f"of which the JPEG thumbnail alone ({THREADS} threads)", round(r["thumb_rate"], 1), "/s",
            round(r["bare_rate"], 1)),
        Row(SECTION, "media stored / queued", f"{r['stored']}/{r['queued']}", "", None, "equal",
            r["stored"] == r["queued"] and r["failed"] == 0),
        Row(SECTION, "webhook item -> desk message.created, image (base: text) p50", round(r["image_ms"], 2), "ms",
            round(r["text_ms"], 2)),
        Row(SECTION, "webhook item -> message.updated with the file p50", round(r["file_ms"], 2), "ms",
            round(r["text_ms"], 2)),
        Row(SECTION, "webhook item -> message.updated with the file p99", round(r["file_p99_ms"], 2), "ms"),
    ]


if __name__ == "__main__":
    if "--child" in sys.argv:
        child()
