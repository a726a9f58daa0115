"""Draws images/icon.png (128x128): code lines on a dark rounded square, the last one
continued in grey ghost text after a cursor. Standard library only, so it needs no
image package: `python3 scripts/make-icon.py`."""

import struct
import zlib
from pathlib import Path

SIZE = 128
BACKGROUND = (30, 34, 44)
CODE = (126, 200, 255)
KEYWORD = (255, 171, 112)
GHOST = (110, 118, 134)
CURSOR = (240, 240, 240)

# (row, column start, column end, colour) in a 16x16 grid of 8-pixel cells.
BARS = [
    (3, 2, 5, KEYWORD), (3, 6, 12, CODE),
    (6, 4, 8, KEYWORD), (6, 9, 13, CODE),
    (9, 4, 7, CODE), (9, 8, 14, GHOST),
    (12, 4, 10, GHOST),
]


def inside_rounded_square(x: int, y: int, radius: int = 22) -> bool:
    cx = min(max(x, radius), SIZE - 1 - radius)
    cy = min(max(y, radius), SIZE - 1 - radius)
    return (x - cx) ** 2 + (y - cy) ** 2 <= radius**2


def pixel(x: int, y: int) -> tuple[int, int, int, int]:
    if not inside_rounded_square(x, y):
        return (0, 0, 0, 0)
    if 7 * 8 + 4 <= x < 7 * 8 + 7 and 9 * 8 - 2 <= y < 10 * 8 + 6:
        return (*CURSOR, 255)
    for row, start, end, colour in BARS:
        if start * 8 <= x < end * 8 and row * 8 <= y < row * 8 + 6:
            return (*colour, 255)
    return (*BACKGROUND, 255)


def png(width: int, height: int, rows: list[bytes]) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + row for row in rows)  # filter type 0 on every row
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def main() -> None:
    rows = [b"".join(bytes(pixel(x, y)) for x in range(SIZE)) for y in range(SIZE)]
    target = Path(__file__).resolve().parent.parent / "images" / "icon.png"
    target.write_bytes(png(SIZE, SIZE, rows))
    print(target)


if __name__ == "__main__":
    main()
