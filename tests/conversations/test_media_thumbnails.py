"""The desk's thumbnails of images and stickers: at most 320 px each way with the aspect kept,
a valid image that looks like the original (a photo decoded at a reduced scale is no worse
than a full decode resized), upright by EXIF orientation, JPEG unless transparency shows,
and transparency kept for stickers and PNGs."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageChops, ImageDraw, ImageStat

from conversations.media_thumbnails import media_thumbnail


def _encode(image: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def _photo(width: int = 1280, height: int = 960) -> Image.Image:
    """Something with edges and gradients, as a photo has: a thumbnail of a flat colour
    would look right whatever the scaler did."""
    image = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    draw = ImageDraw.Draw(image)
    for i in range(0, width, 80):
        draw.rectangle((i, height // 4, i + 30, height // 2), fill=(220, 30 + i % 200, 40))
    draw.ellipse((width // 3, height // 2, width // 3 + 300, height // 2 + 300), fill=(20, 40, 230))
    return image


def _open(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_a_photo_becomes_a_small_jpeg_that_looks_like_a_full_decode_resized():
    original = _photo()
    # Its left quarter: a one-pixel checkerboard, which a scaler that skips pixels instead
    # of averaging them turns black or white, and a fair one turns mid grey.
    quarter = (original.width // 4, original.height)
    rows = (b"\x00\xff" * (quarter[0] // 2) + b"\xff\x00" * (quarter[0] // 2)) * (quarter[1] // 2)
    original.paste(Image.frombytes("L", quarter, rows).convert("RGB"), (0, 0))

    thumb = media_thumbnail(_encode(original, "JPEG", quality=95))

    assert thumb is not None and thumb.extension == ".jpg"
    image = _open(thumb.data)
    assert (image.format, image.size, image.mode) == ("JPEG", (320, 240), "RGB")
    checker = ImageStat.Stat(image.convert("L").crop((4, 4, 76, 236)))
    assert 110 < checker.mean[0] < 146 and checker.stddev[0] < 12, (checker.mean, checker.stddev)
    reference = original.resize((320, 240), Image.Resampling.LANCZOS)
    difference = ImageStat.Stat(ImageChops.difference(image.crop((84, 0, 320, 240)), reference.crop((84, 0, 320, 240))))
    assert max(difference.mean) < 4, difference.mean  # mean error per channel, of 255


@pytest.mark.parametrize(("size", "expected"), [((4000, 3000), (320, 240)), ((900, 1600), (180, 320)), ((40, 30), (40, 30))])
def test_the_aspect_is_kept_and_a_small_image_is_not_enlarged(size, expected):
    thumb = media_thumbnail(_encode(_photo(*size), "JPEG"))

    assert thumb is not None
    assert _open(thumb.data).size == expected


def test_a_phone_photo_taken_sideways_is_shown_upright():
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to view
    data = _encode(_photo(1280, 960), "JPEG", exif=exif)

    thumb = media_thumbnail(data)

    assert thumb is not None
    assert _open(thumb.data).size == (240, 320)


def test_a_sticker_keeps_its_transparency():
    sticker = Image.new("RGBA", (512, 512), (0, 0, 0, 0))
    ImageDraw.Draw(sticker).ellipse((100, 100, 400, 400), fill=(250, 200, 0, 255))

    thumb = media_thumbnail(_encode(sticker, "WEBP", lossless=True))

    assert thumb is not None and thumb.extension == ".png"
    image = _open(thumb.data)
    assert (image.format, image.size, image.mode) == ("PNG", (320, 320), "RGBA")
    assert image.getchannel("A").getpixel((2, 2)) == 0
    assert image.getpixel((160, 160)) == (250, 200, 0, 255)


def test_a_palette_png_with_a_transparent_colour_keeps_it():
    image = Image.new("P", (64, 64), 0)
    image.putpalette([255, 255, 255, 200, 0, 0] + [0] * 762)
    ImageDraw.Draw(image).rectangle((16, 16, 47, 47), fill=1)

    thumb = media_thumbnail(_encode(image, "PNG", transparency=0))

    assert thumb is not None and thumb.extension == ".png"
    shown = _open(thumb.data).convert("RGBA")
    assert shown.getchannel("A").getpixel((0, 0)) == 0
    assert shown.getpixel((32, 32)) == (200, 0, 0, 255)


@pytest.mark.parametrize(
    ("image", "fmt", "mode"),
    [
        (Image.new("RGBA", (600, 400), (10, 120, 200, 255)), "PNG", "RGB"),  # alpha present, nothing see-through
        (Image.new("CMYK", (600, 400), (0, 80, 160, 0)), "JPEG", "RGB"),
        (Image.new("L", (600, 400), 90), "JPEG", "L"),
    ],
    ids=["opaque-png", "cmyk-jpeg", "grey-jpeg"],
)
def test_images_without_visible_transparency_become_jpeg(image, fmt, mode):
    thumb = media_thumbnail(_encode(image, fmt))

    assert thumb is not None and thumb.extension == ".jpg"
    shown = _open(thumb.data)
    assert (shown.format, shown.mode, shown.size) == ("JPEG", mode, (320, 213))


def test_bytes_pillow_cannot_read_give_no_thumbnail():
    assert media_thumbnail(b"\xff\xd8\xff\xe0 not really a jpeg") is None
