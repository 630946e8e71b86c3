"""WhatsApp's media rules, in one place: the types each kind of media may have, the size
caps, and whether a file's bytes are what its declared MIME type says.

Caps are WhatsApp's (Cloud API "Supported media types"): image 5 MB, audio and video
16 MB, document 100 MB, sticker 500 KB. The check of the bytes uses `filetype`
(pure Python, magic numbers of the common formats, no system library needed), so a
file claiming to be a JPEG that is an HTML page or an executable is refused.
"""

from __future__ import annotations

import filetype

MB = 1024 * 1024
KINDS = ("image", "audio", "video", "document", "sticker")

SIZE_CAPS: dict[str, int] = {
    "image": 5 * MB,
    "audio": 16 * MB,
    "video": 16 * MB,
    "document": 100 * MB,
    "sticker": 500 * 1024,
}

# What WhatsApp accepts for each kind when a business sends it.
SEND_TYPES: dict[str, tuple[str, ...]] = {
    "image": ("image/jpeg", "image/png"),
    "sticker": ("image/webp",),
    "audio": ("audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"),
    "video": ("video/mp4", "video/3gpp"),
    "document": (
        "application/pdf",
        "text/plain",
        "application/msword",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.ms-excel",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.ms-powerpoint",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ),
}

CAPTION_KINDS = ("image", "video", "document")
CAPTION_MAX = 1024

# Types a browser may show inline (served with nosniff); everything else is a download.
INLINE_TYPES = frozenset(
    {
        "image/jpeg", "image/png", "image/webp", "image/gif",
        "audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg", "audio/opus", "audio/wav",
        "video/mp4", "video/3gpp", "video/webm",
    }
)

# Detected types that count as the declared one (containers named differently by
# different tools).
_SAME = [
    {"audio/ogg", "audio/opus", "video/ogg", "application/ogg"},
    {"audio/mp4", "audio/m4a", "audio/x-m4a", "video/mp4", "audio/aac"},
    {"video/mp4", "video/quicktime", "video/3gpp", "video/x-m4v"},
    {"audio/mpeg", "audio/mp3"},
    {"audio/amr", "audio/amr-wb"},
    {"application/msword", "application/x-cfb", "application/vnd.ms-excel", "application/vnd.ms-powerpoint"},
    {
        "application/zip",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    },
]


_RECOGNISABLE = frozenset(t.mime for t in filetype.types)


def base_type(mime: str) -> str:
    """`audio/ogg; codecs=opus` → `audio/ogg`."""
    return (mime or "").split(";", 1)[0].strip().lower()


def sniff(head: bytes) -> str | None:
    """The MIME type the bytes say, from their first bytes; None when not recognised."""
    kind = filetype.guess(head)
    return kind.mime if kind is not None else None


def bytes_match(*, declared: str, detected: str | None, kind: str) -> bool:
    """Whether bytes detected as `detected` may be stored as `declared` media of `kind`.

    Images, stickers, audio and video must be recognised and agree with the declared
    type. A document must agree when recognised; unrecognised bytes pass only for a
    declared type that has no signature to recognise (plain text, CSV, …), since a PDF
    or an office file always has one (it is served as a download anyway)."""
    declared = base_type(declared)
    if detected is None:
        return kind == "document" and declared not in _RECOGNISABLE
    if detected == declared:
        return True
    return any(declared in family and detected in family for family in _SAME)


def kind_for_type(mime: str) -> str | None:
    """The kind of message a file of this type is sent as, or None if WhatsApp takes none."""
    mime = base_type(mime)
    for kind, types in SEND_TYPES.items():
        if mime in types:
            return kind
    return None


def human_size(size: int) -> str:
    if size >= MB:
        return f"{size // MB} MB" if size % MB == 0 else f"{size / MB:.2f} MB"
    return f"{size // 1024} KB" if size % 1024 == 0 else f"{size / 1024:.1f} KB"


def a_kind(kind: str) -> str:
    """`an image`, `a video`."""
    return f"an {kind}" if kind[:1] in "aeiou" else f"a {kind}"


def served_inline(mime: str) -> bool:
    return base_type(mime) in INLINE_TYPES
