"""Images for a visual region: PNG, PGM, or a text grid of digits, read into intensities 0..1 and fitted to the region's grid.

No imaging library: PNG is zlib (the standard library) with a filter per row (PNG spec,
section 9); this reader takes 8-bit greyscale, greyscale+alpha, RGB, RGBA and palette
images, not interlaced (what image editors and ``matplotlib.pyplot.imsave`` write). Colour
becomes luminance (ITU-R BT.601 weights); alpha composites onto black. PGM is ``P2`` (text)
or ``P5`` (binary, 8 or 16 bit). A text grid is rows of digits 0-9 (9 = brightest), one row a
line, blank lines and ``#`` comments ignored.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

from brainchat.errors import ImageError

MAX_PIXELS = 4096 * 4096
__all__ = ["ImageError", "fit", "read_image"]


def read_image(path: str | Path) -> np.ndarray:
    """float32 ``[height, width]`` in 0..1; :class:`ImageError` for a missing, unreadable or unsupported file."""
    source = Path(path)
    try:
        data = source.read_bytes()
    except FileNotFoundError:
        raise ImageError(f"no image at {source}") from None
    except OSError as error:
        raise ImageError(f"cannot read {source}: {error.strerror or error}") from None
    try:
        if data.startswith(b"\x89PNG\r\n\x1a\n"):
            return _png(data)
        if data[:2] in (b"P2", b"P5"):
            return _pgm(data)
        return _grid(data.decode("ascii"))
    except ImageError as error:
        raise ImageError(f"{source}: {error}") from None
    except UnicodeDecodeError:
        raise ImageError(f"{source} is not a PNG, PGM or text grid of digits") from None
    except (ValueError, zlib.error, struct.error, IndexError) as error:
        raise ImageError(f"{source} is not a PNG, PGM or text grid of digits this reader takes ({str(error).splitlines()[0] if str(error) else type(error).__name__})") from None


def fit(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """The image resampled to ``height x width`` by averaging the pixels each cell covers (nearest where it is smaller)."""
    rows = np.linspace(0, image.shape[0], height + 1)
    columns = np.linspace(0, image.shape[1], width + 1)
    out = np.zeros((height, width), dtype=np.float32)
    for r in range(height):
        r0, r1 = int(rows[r]), max(int(rows[r]) + 1, int(np.ceil(rows[r + 1])))
        for c in range(width):
            c0, c1 = int(columns[c]), max(int(columns[c]) + 1, int(np.ceil(columns[c + 1])))
            out[r, c] = image[r0:r1, c0:c1].mean()
    return out


def _grid(text: str) -> np.ndarray:
    rows = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    if not rows:
        raise ImageError("the text grid is empty")
    if any(not row.isdigit() for row in rows):
        raise ImageError("a text grid holds only the digits 0-9 (9 = brightest), a row per line")
    if len({len(row) for row in rows}) != 1:
        raise ImageError("the rows of the text grid are not all of one length")
    return np.array([[int(ch) for ch in row] for row in rows], dtype=np.float32) / 9.0


def _pgm(data: bytes) -> np.ndarray:
    tokens: list[bytes] = []
    position = 2
    while len(tokens) < 3:
        while data[position : position + 1].isspace():
            position += 1
        if data[position : position + 1] == b"#":
            position = data.index(b"\n", position) + 1
            continue
        end = position
        while end < len(data) and not data[end : end + 1].isspace():
            end += 1
        tokens.append(data[position:end])
        position = end
    width, height, top = (int(t) for t in tokens)
    _check_size(width, height)
    if not 0 < top < 65536:
        raise ImageError(f"a PGM's maximum value must be 1-65535, not {top}")
    if data[:2] == b"P2":
        values = np.array(data[position:].split()[: width * height], dtype=np.float64)
    else:
        position += 1  # the one whitespace after the maximum
        kind = ">u2" if top > 255 else "u1"
        values = np.frombuffer(data, dtype=kind, count=width * height, offset=position).astype(np.float64)
    if values.size != width * height:
        raise ImageError("the PGM is shorter than its size says")
    return (values.reshape(height, width) / top).astype(np.float32)


def _check_size(width: int, height: int) -> None:
    if width <= 0 or height <= 0 or width * height > MAX_PIXELS:
        raise ImageError(f"an image of {width} x {height} pixels is not one this reader takes (at most {MAX_PIXELS:,} pixels)")


_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def _png(data: bytes) -> np.ndarray:
    position = 8
    header = palette = None
    compressed = bytearray()
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        body = data[position + 8 : position + 8 + length]
        position += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"PLTE":
            palette = np.frombuffer(body, dtype=np.uint8).reshape(-1, 3)
        elif kind == b"IDAT":
            compressed += body
        elif kind == b"IEND":
            break
    if header is None:
        raise ImageError("the PNG has no header")
    width, height, depth, colour, _, _, interlace = header
    _check_size(width, height)
    if depth != 8 or colour not in _CHANNELS or interlace:
        raise ImageError(f"only 8-bit, non-interlaced PNGs are read (this one: {depth}-bit, colour type {colour}{', interlaced' if interlace else ''})")
    channels = _CHANNELS[colour]
    stride = width * channels
    raw = np.frombuffer(zlib.decompress(bytes(compressed)), dtype=np.uint8)
    if raw.size < height * (stride + 1):
        raise ImageError("the PNG's image data is shorter than its size says")
    rows = raw[: height * (stride + 1)].reshape(height, stride + 1)
    pixels = np.zeros((height, stride), dtype=np.int32)
    previous = np.zeros(stride, dtype=np.int32)
    for y in range(height):
        kind, line = rows[y, 0], rows[y, 1:].astype(np.int32)
        if kind == 0:
            current = line
        elif kind == 2:
            current = (line + previous) & 0xFF
        else:  # Sub (1), Average (3) and Paeth (4) depend on the pixel to the left: byte by byte
            current = np.zeros(stride, dtype=np.int32)
            for x in range(stride):
                left = current[x - channels] if x >= channels else 0
                up = previous[x]
                corner = previous[x - channels] if x >= channels else 0
                if kind == 1:
                    predicted = left
                elif kind == 3:
                    predicted = (left + up) // 2
                elif kind == 4:
                    p = left + up - corner
                    pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                    predicted = left if pa <= pb and pa <= pc else (up if pb <= pc else corner)
                else:
                    raise ImageError(f"row {y} has an unknown PNG filter {kind}")
                current[x] = (line[x] + predicted) & 0xFF
        pixels[y] = current
        previous = current
    values = pixels.reshape(height, width, channels).astype(np.float64) / 255.0
    if colour == 3:
        if palette is None:
            raise ImageError("a palette PNG without its palette")
        values = palette[pixels.reshape(height, width)].astype(np.float64) / 255.0
        channels = 3
    if channels in (2, 4):  # alpha onto black
        values = values[..., :-1] * values[..., -1:]
    if values.shape[-1] == 3:
        grey = values @ np.array([0.299, 0.587, 0.114])
    else:
        grey = values[..., 0]
    return grey.astype(np.float32)
