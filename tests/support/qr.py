"""Reading a QR code back from a PNG, in tests: the PNG decoded with the standard library (zlib and the five row
filters of the PNG specification; grayscale or palette of 1–8 bits, as QR writers emit), the image handed to
zxing-cpp's reader as an 8-bit grayscale buffer."""

from __future__ import annotations

import struct
import zlib

import zxingcpp

SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def png_gray(png: bytes) -> tuple[int, int, bytes]:
    """(width, height, one byte per pixel: 0 black … 255 white) of a grayscale or palette PNG."""
    assert png[:8] == SIGNATURE, "not a PNG"
    pos, data, palette = 8, b"", None
    width = height = depth = color = 0
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind, body = png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", body[:10])
        elif kind == b"PLTE":
            palette = [sum(body[i : i + 3]) // 3 for i in range(0, len(body), 3)]
        elif kind == b"IDAT":
            data += body
    assert color in (0, 3) and depth in (1, 2, 4, 8), f"unsupported PNG: color type {color}, depth {depth}"
    raw = zlib.decompress(data)
    stride = (width * depth + 7) // 8
    bpp = max(1, depth // 8)
    pixels = bytearray()
    prev = bytes(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            line[i] = (line[i] + (0, a, b, (a + b) // 2, _paeth(a, b, c))[kind]) & 0xFF
        prev = bytes(line)
        top = (1 << depth) - 1
        for x in range(width):
            bit = x * depth
            value = (line[bit // 8] >> (8 - depth - bit % 8)) & top
            pixels.append(palette[value] if palette is not None else value * 255 // top)
    return width, height, bytes(pixels)


def decode_qr(png: bytes) -> list[str]:
    """The texts of the QR codes in a PNG."""
    width, height, pixels = png_gray(png)
    image = memoryview(pixels).cast("B", (height, width))
    return [b.text for b in zxingcpp.read_barcodes(image)]
