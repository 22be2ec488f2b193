"""Bar charts as PNG bytes, for the monthly reconciliation health report mailed to finance.

The mail carries the chart as an inline image; its numbers are in the mail's text and JSON, so
the chart draws no text at all. That keeps it to a page of the standard library (``zlib`` and
``struct``) instead of a plotting library, with its fonts and native wheels, in every image
that sends mail.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

Rgb = tuple[int, int, int]

WHITE: Rgb = (255, 255, 255)
AXIS: Rgb = (51, 51, 51)

# Okabe–Ito: told apart by readers with the common colour-vision deficiencies. Its black is left
# out (it is the axis's colour) and its yellow comes last: on white it is the faintest.
PALETTE: tuple[Rgb, ...] = (
    (0, 114, 178),
    (230, 159, 0),
    (0, 158, 115),
    (213, 94, 0),
    (204, 121, 167),
    (86, 180, 233),
    (240, 228, 66),
)

MIN_SIDE = 32
MAX_SIDE = 4000
# Two pixels, not one: mail clients shrink wide images to fit, and a one-pixel line can fade out.
AXIS_THICKNESS = 2

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class Bar:
    """One bar. ``label`` is for the caller (alt text, logs): the chart draws no text."""

    label: str
    value: int
    color: Rgb


@dataclass(frozen=True)
class _Layout:
    """Where things go, in pixels. ``baseline`` is the top row of the axis; bars stand on it."""

    left: int
    right: int
    top: int
    baseline: int

    @property
    def plot_width(self) -> int:
        return self.right - self.left

    @property
    def plot_height(self) -> int:
        return self.baseline - self.top


def bar_chart_png(bars: Sequence[Bar], *, width: int = 480, height: int = 240) -> bytes:
    """A ``width`` x ``height`` RGB PNG: one bar per item, left to right in the given order,
    each as tall as its value relative to the largest. Zero draws no bar; no bars, or only
    zeros, draws just the axis. ValueError, saying what is wrong, for a size outside
    ``MIN_SIDE``..``MAX_SIDE``, a negative value, a colour channel outside 0..255, or more bars
    than the width has room for."""
    layout = _layout(width, height)
    _check_bars(bars, layout)
    rows = _rows(bars, layout, width, height)
    return _png(width, height, rows)


def _layout(width: int, height: int) -> _Layout:
    for name, side in (("width", width), ("height", height)):
        if not MIN_SIDE <= side <= MAX_SIDE:
            raise ValueError(f"{name} must be {MIN_SIDE}..{MAX_SIDE} pixels, got {side}")
    side_margin = width // 25
    # The top margin is wider: the tallest bar should not look cut off by the image's edge.
    top_margin = height // 10
    bottom_margin = height // 20
    return _Layout(
        left=side_margin,
        right=width - side_margin,
        top=top_margin,
        baseline=height - bottom_margin - AXIS_THICKNESS,
    )


def _check_bars(bars: Sequence[Bar], layout: _Layout) -> None:
    # Each bar needs a pixel of its own and a pixel of gap, or neighbours merge into one.
    room = layout.plot_width // 2
    if len(bars) > room:
        raise ValueError(
            f"{len(bars)} bars do not fit in a {layout.plot_width}-pixel-wide plot: at most {room}"
        )
    for bar in bars:
        if bar.value < 0:
            raise ValueError(f"bar {bar.label!r} has a negative value: {bar.value}")
        if len(bar.color) != 3 or not all(0 <= channel <= 255 for channel in bar.color):
            raise ValueError(f"bar {bar.label!r} has a colour outside 0..255 RGB: {bar.color}")


def _bar_heights(bars: Sequence[Bar], plot_height: int) -> list[int]:
    largest = max((bar.value for bar in bars), default=0)
    if largest == 0:
        return [0] * len(bars)
    # Rounded, in integers: exact for any size of value. A value too small to round up to a
    # pixel still gets one, so that it does not read as zero.
    return [
        max(1, (bar.value * plot_height + largest // 2) // largest) if bar.value else 0
        for bar in bars
    ]


def _bar_spans(count: int, layout: _Layout) -> list[tuple[int, int]]:
    """Each bar's [start, end) columns: centred in equal slots, three quarters of a slot wide."""
    if count == 0:
        return []
    # One width for all bars, from the narrowest slot, so that equal values look equal.
    bar_width = max(1, (layout.plot_width // count) * 3 // 4)
    spans = []
    for index in range(count):
        start = layout.left + ((2 * index + 1) * layout.plot_width - count * bar_width) // (
            2 * count
        )
        spans.append((start, start + bar_width))
    return spans


def _rows(bars: Sequence[Bar], layout: _Layout, width: int, height: int) -> list[bytes]:
    """The image's rows, top to bottom, as RGB bytes."""
    blank = bytes(WHITE) * width
    axis = bytes(WHITE) * layout.left + bytes(AXIS) * layout.plot_width
    axis += bytes(WHITE) * (width - layout.right)
    heights = _bar_heights(bars, layout.plot_height)
    spans = _bar_spans(len(bars), layout)

    rows = [blank] * layout.top
    previous: tuple[int, ...] = ()
    row = blank
    for y in range(layout.top, layout.baseline):
        above_baseline = layout.baseline - y
        showing = tuple(i for i, bar_height in enumerate(heights) if bar_height >= above_baseline)
        # A row changes only where some bar starts: build it then, reuse it below.
        if showing != previous:
            row = _row_with_bars(blank, [(spans[i], bars[i].color) for i in showing])
            previous = showing
        rows.append(row)
    rows += [axis] * AXIS_THICKNESS
    rows += [blank] * (height - len(rows))
    return rows


def _row_with_bars(blank: bytes, segments: list[tuple[tuple[int, int], Rgb]]) -> bytes:
    row = bytearray(blank)
    for (start, end), color in segments:
        row[start * 3 : end * 3] = bytes(color) * (end - start)
    return bytes(row)


def _png(width: int, height: int, rows: list[bytes]) -> bytes:
    # 8-bit RGB (colour type 2), default compression and filter methods, no interlacing.
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    # Filter type 0 (none) on every row: flat colours compress well without any filter.
    raw = b"".join(b"\x00" + row for row in rows)
    # zlib's default level: 9 takes twice as long to save a few hundred bytes of a ~2 KB image.
    return b"".join(
        (
            _PNG_SIGNATURE,
            _chunk(b"IHDR", header),
            _chunk(b"IDAT", zlib.compress(raw)),
            _chunk(b"IEND", b""),
        )
    )


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data)
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)
