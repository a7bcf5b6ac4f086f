"""One image file -> one square uint8 array, with Pillow.

Any file Pillow can open is read; PNG, JPEG, BMP, GIF and WebP are the formats the suite
promises. What every image goes through, in this order:

- its first frame (a GIF's or an animated WebP's first, as Pillow opens it);
- its EXIF orientation applied (`ImageOps.exif_transpose`), so a photo lies as a viewer shows it;
- 8 bits a channel: 16-bit greyscale (modes I;16*, and I, which holds 16-bit data) is scaled by
  255 / 65535 and rounded, round(v / 257), so 65535 becomes 255 and nothing is clipped (Pillow's
  own conversion clips at 255); values of mode I outside 0..65535 are clamped to it first;
  1-bit images become 0 and 255; palette (P, PA), CMYK and other modes are converted to RGB
  (Pillow itself reads a 16-bit colour PNG as 8 bits a channel, keeping each value's high byte);
- resized so that its shorter side is `size` and cropped to the centre square (both in one
  `Image.resize` with a crop box; a square of `size` is kept as it is, an image whose shorter
  side is already `size` only cropped, at whole-pixel offsets);
- transparency (an alpha channel, or a transparent palette entry or colour) composited on a
  WHITE background, as a web page shows such an image: c' = round((c a + 255 (255 - a)) / 255)
  for alpha a in 0..255. Resizing is done before compositing, on premultiplied colours (as
  Pillow resizes images with alpha), so a transparent pixel's hidden colour never shows.

The result is an array (size, size) for a greyscale image and (size, size, 3) for a colour one;
an RGB image whose three channels are equal everywhere counts as greyscale and comes back as
(size, size). The caller decides the data set's channels from all of them.
"""

import struct

import numpy as np
from PIL import Image, ImageOps

BACKGROUND = 255  # white: what shows through a transparent pixel, in every channel
ORIENTATION = 0x0112  # the EXIF tag
GREY_MODES = {"1", "L", "LA", "La", "I", "F", "I;16", "I;16L", "I;16B", "I;16N"}
SIXTEEN_BIT_MODES = {"I", "I;16", "I;16L", "I;16B", "I;16N"}


def probe(path: str) -> tuple:
    """(width, height, greyscale) of the image at `path`, from its header alone (no pixels are
    decoded). Its EXIF orientation may swap width and height later, which changes neither its
    shorter side nor whether it is square.

    `greyscale` is True when the file's mode is a greyscale one, or a palette of greys only: its
    pixels can only be grey. Raises what Pillow raises for a file that is not an image (PIL's
    UnidentifiedImageError) or cannot be read (OSError).
    """
    with Image.open(path) as image:
        return image.size[0], image.size[1], _grey_mode(image)


def decode(path: str, size: int) -> np.ndarray:
    """The image at `path` as uint8 (size, size) if it is greyscale, else (size, size, 3)."""
    with Image.open(path) as image:
        image.draft(image.mode, (size, size))  # JPEG: decode at 1/2, 1/4 or 1/8 scale if still >= size
        image = _upright(image)
        image = _eight_bit(image)
        image = _square(image, size)
        pixels = np.asarray(image)
    if image.mode in ("LA", "RGBA"):
        pixels = _composite(pixels)
    if pixels.ndim == 3 and (pixels[..., 0] == pixels[..., 1]).all() and (pixels[..., 1] == pixels[..., 2]).all():
        pixels = pixels[..., 0]
    return np.array(pixels)  # a writable copy, not a view of Pillow's buffer


def _upright(image):
    """The image turned as its EXIF orientation says; as it is when the EXIF data cannot be
    read (a photo with a broken EXIF block is still a photo)."""
    try:
        if image.getexif().get(ORIENTATION, 1) == 1:
            return image
        return ImageOps.exif_transpose(image)
    except (SyntaxError, ValueError, KeyError, TypeError, IndexError, struct.error):
        image.load()  # the pixels may still be fine: decoding them fails if not
        return image


def _grey_mode(image):
    if image.mode in GREY_MODES:
        return True
    if image.mode in ("P", "PA"):
        palette = image.getpalette("RGB") or []
        return palette[0::3] == palette[1::3] == palette[2::3]
    return False


def _eight_bit(image):
    """The image in mode L, LA, RGB or RGBA (the last two only when it has colour or alpha)."""
    if image.mode in SIXTEEN_BIT_MODES:
        values = np.asarray(image).astype(np.int64).clip(0, 65535)
        return Image.fromarray(((values * 255 + 32767) // 65535).astype(np.uint8))
    transparent = "transparency" in image.info
    if image.mode in ("L", "RGB") and not transparent:
        return image
    if image.mode in ("LA", "RGBA"):
        return image
    if image.mode == "La":
        return image.convert("LA")
    if image.mode in ("1", "F") and not transparent:
        return image.convert("L")  # 1-bit: 0 and 255; F is taken as 0..255, clipped
    if image.mode == "RGBa":
        return image.convert("RGBA")
    if transparent or image.mode in ("PA",):
        return image.convert("RGBA")  # Pillow turns the transparent palette entry or colour into alpha
    return image.convert("RGB")


def _square(image, size):
    """Shorter side resized to `size`, centre square cropped, in one resampling step."""
    width, height = image.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    box = (left, top, left + side, top + side)
    if side == size:
        return image.crop(box) if (width, height) != (size, size) else image
    return image.resize((size, size), Image.Resampling.BILINEAR, box=box, reducing_gap=3.0)


def _composite(pixels):
    """(S, S, 2) LA or (S, S, 4) RGBA uint8 -> colour composited on the background, alpha dropped."""
    colour, alpha = pixels[..., :-1].astype(np.uint32), pixels[..., -1:].astype(np.uint32)
    blended = (colour * alpha + BACKGROUND * (255 - alpha) + 127) // 255
    blended = blended.astype(np.uint8)
    return blended[..., 0] if blended.shape[-1] == 1 else blended
