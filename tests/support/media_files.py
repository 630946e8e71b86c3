"""Small real files of each media kind, and a Graph stand-in's media routes."""

from __future__ import annotations

import hashlib
import io

from PIL import Image

from tests.support.graph_server import GraphServer, RawBody


def jpeg(width: int = 800, height: int = 600) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 40, 40)).save(out, "JPEG")
    return out.getvalue()


def png(width: int = 40, height: int = 30) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (20, 40, 200)).save(out, "PNG")
    return out.getvalue()


def webp() -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (128, 128), (20, 200, 40, 255)).save(out, "WEBP")
    return out.getvalue()


def ogg_opus() -> bytes:
    return b"OggS\x00\x02" + b"\x00" * 22 + b"OpusHead" + b"\x01" * 200


def mp4() -> bytes:
    return b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 400


def pdf() -> bytes:
    return b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.cookie)</script></svg>'
HTML = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def serve_media(graph: GraphServer, media_id: str, data: bytes, mime: str, *, url: str | None = None,
                file_size: int | None = None) -> str:
    """Make `graph` answer `GET /{media_id}` with a URL on itself serving `data`; returns the file's path."""
    root = graph.base_url.rsplit("/", 1)[0]
    path = f"/files/{media_id}"
    info = {
        "messaging_product": "whatsapp",
        "url": url or f"{root}{path}?ext=1",
        "mime_type": mime,
        "sha256": sha256(data),
        "file_size": len(data) if file_size is None else file_size,
        "id": media_id,
    }
    graph.route("GET", f"/v23.0/{media_id}", lambda request: (200, info))
    graph.route("GET", path, lambda request: (200, RawBody(data, mime)))
    return path
