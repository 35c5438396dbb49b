"""An 8-bit PNG decoder from the PNG specification, with the standard library only: the
independent reader the PNG writer and the thumbnails are checked against."""

from __future__ import annotations

import struct
import zlib

import numpy as np


def png_pixels(data: bytes) -> np.ndarray:
    """Decode an 8-bit, non-interlaced PNG with the standard library (as the PNG spec says)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        header = body if kind == b"IHDR" else header
        idat += body if kind == b"IDAT" else b""
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert (depth, interlace) == (8, 0)
    channels = {0: 1, 2: 3, 6: 4}[colour]
    raw = np.frombuffer(zlib.decompress(idat), dtype=np.uint8).reshape(height, -1)
    stride = width * channels
    out = np.zeros((height, stride), dtype=np.int64)
    for y in range(height):
        kind, line = raw[y, 0], raw[y, 1:].astype(np.int64)
        prior = out[y - 1] if y else np.zeros(stride, dtype=np.int64)
        row = np.zeros(stride, dtype=np.int64)
        for x in range(stride):
            a = row[x - channels] if x >= channels else 0
            b, c = prior[x], prior[x - channels] if x >= channels else 0
            predictor = {0: 0, 1: a, 2: b, 3: (a + b) // 2}.get(int(kind))
            if predictor is None:  # Paeth
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                predictor = a if pa <= pb and pa <= pc else b if pb <= pc else c
            row[x] = (line[x] + predictor) % 256
        out[y] = row
    return out.reshape(height, width, channels).transpose(2, 0, 1).astype(np.uint8)
