"""Thumbnails of images and stickers for the desk (Pillow), made where the file is stored.

Cheap by construction, since every downloaded photo pays for one:
- a JPEG is decoded at a reduced scale (libjpeg's scaled IDCT, `Image.draft`) straight to
  the smallest of 1/1, 1/2, 1/4 or 1/8 that is not below the thumbnail's size, so a
  1280 x 960 photo decodes to 320 x 240 rather than to its full 1.2 megapixels (Pillow's
  own `thumbnail` asks for twice the square box, which for a 4:3 photo is no reduction at
  all); any remaining reduction is Pillow's antialiased `thumbnail`;
- the result is a JPEG (quality 80) unless the image has transparency that shows; then a
  PNG (alpha kept, default compression: `optimize` costs more than it saves at this size).

The thumbnail is turned upright by the image's EXIF orientation, as browsers show the full
photo. At most `SIZE` each way; the aspect ratio is kept.
"""

from __future__ import annotations

import io
import logging
import math
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

log = logging.getLogger(__name__)

SIZE = (320, 320)
JPEG_QUALITY = 80
_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")


@dataclass(frozen=True)
class Thumbnail:
    data: bytes
    extension: str  # ".jpg" or ".png"


def _fitted(width: int, height: int) -> tuple[int, int]:
    scale = min(SIZE[0] / width, SIZE[1] / height, 1.0)
    return max(1, math.ceil(width * scale)), max(1, math.ceil(height * scale))


def _visible_alpha(image: Image.Image) -> bool:
    if image.mode == "P":
        return "transparency" in image.info
    if image.mode not in _ALPHA_MODES:
        return False
    low, _ = image.getchannel("A").getextrema()  # one band: (min, max)
    return isinstance(low, int) and low < 255


def media_thumbnail(data: bytes) -> Thumbnail | None:
    """A thumbnail of `data` (an image's bytes, already checked to be an image type), or
    None when Pillow cannot read it (logged; the file itself is still stored)."""
    try:
        with Image.open(io.BytesIO(data)) as opened:
            if opened.format == "JPEG":
                opened.draft(None, _fitted(*opened.size))
            opened.thumbnail(SIZE)  # its own draft (to twice the box) is a no-op after ours
            image = ImageOps.exif_transpose(opened)
            out = io.BytesIO()
            if _visible_alpha(image):
                image.convert("LA" if image.mode in ("LA", "La") else "RGBA").save(out, format="PNG")
                return Thumbnail(out.getvalue(), ".png")
            if image.mode not in ("RGB", "L"):
                image = image.convert("RGB")
            image.save(out, format="JPEG", quality=JPEG_QUALITY)
            return Thumbnail(out.getvalue(), ".jpg")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        log.warning("no thumbnail: the image could not be read")
        return None
