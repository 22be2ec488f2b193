"""The report's bar chart, read back pixel by pixel with a PNG reader written here: a chart that
only looked right in the encoder's own terms would pass nothing below."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from itertools import pairwise

import pytest

from integrations.charts import MAX_SIDE, MIN_SIDE, PALETTE, Bar, bar_chart_png

Rgb = tuple[int, int, int]

WHITE: Rgb = (255, 255, 255)
RED: Rgb = (200, 30, 30)
GREEN: Rgb = (30, 160, 60)
BLUE: Rgb = (30, 60, 200)


class MalformedPng(Exception):
    """The bytes are not the PNG the chart promises: 8-bit RGB, unfiltered rows."""


@dataclass(frozen=True)
class Image:
    width: int
    height: int
    rows: list[list[Rgb]]

    def colours(self) -> set[Rgb]:
        return {pixel for row in self.rows for pixel in row}

    def box(self, colour: Rgb) -> tuple[int, int, int, int]:
        """The smallest (left, top, right, bottom) box, ends exclusive, holding ``colour``."""
        xs = [x for row in self.rows for x, pixel in enumerate(row) if pixel == colour]
        ys = [y for y, row in enumerate(self.rows) if colour in row]
        assert xs, f"no pixel has colour {colour}"
        return min(xs), min(ys), max(xs) + 1, max(ys) + 1

    def is_filled(self, box: tuple[int, int, int, int], colour: Rgb) -> bool:
        left, top, right, bottom = box
        return all(
            self.rows[y][x] == colour for y in range(top, bottom) for x in range(left, right)
        )

    def dark_rows(self) -> list[int]:
        """Rows where most pixels are dark grey or black: the axis."""
        return [
            y
            for y, row in enumerate(self.rows)
            if sum(1 for pixel in row if max(pixel) < 100) > self.width // 2
        ]


def read_png(data: bytes) -> Image:
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise MalformedPng("no PNG signature")
    chunks: list[tuple[bytes, bytes]] = []
    offset = 8
    while offset < len(data):
        if offset + 12 > len(data):
            raise MalformedPng("a chunk is cut short")
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        body = data[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length : offset + 12 + length])
        if len(body) != length or crc != zlib.crc32(kind + body):
            raise MalformedPng(f"bad CRC or length in chunk {kind!r}")
        chunks.append((kind, body))
        offset += 12 + length

    kinds = [kind for kind, _ in chunks]
    if kinds[0] != b"IHDR" or kinds[-1] != b"IEND" or kinds.count(b"IEND") != 1:
        raise MalformedPng(f"chunks out of order: {kinds}")
    width, height, depth, colour_type, compression, filter_method, interlace = struct.unpack(
        ">IIBBBBB", chunks[0][1]
    )
    if (depth, colour_type, compression, filter_method, interlace) != (8, 2, 0, 0, 0):
        raise MalformedPng("not 8-bit RGB, non-interlaced")

    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    stride = 1 + 3 * width
    if len(raw) != height * stride:
        raise MalformedPng(f"{len(raw)} bytes of pixels for {width}x{height}")
    rows = []
    for y in range(height):
        line = raw[y * stride : (y + 1) * stride]
        if line[0] != 0:
            raise MalformedPng(f"row {y} uses filter {line[0]}; this reader undoes only 0")
        rows.append([(line[i], line[i + 1], line[i + 2]) for i in range(1, stride, 3)])
    return Image(width, height, rows)


def chart(values: list[int], colours: list[Rgb] | None = None, **size: int) -> Image:
    colours = colours or [RED, GREEN, BLUE, *PALETTE][: len(values)]
    bars = [
        Bar(f"bar {i}", value, colour)
        for i, (value, colour) in enumerate(zip(values, colours, strict=True))
    ]
    return read_png(bar_chart_png(bars, **size))


def bar_height(image: Image, colour: Rgb) -> int:
    _, top, _, bottom = image.box(colour)
    return bottom - top


@pytest.mark.parametrize(("width", "height"), [(480, 240), (100, 50), (32, 32), (4000, 40)])
def test_the_png_is_8_bit_rgb_of_the_asked_size(width: int, height: int) -> None:
    image = chart([3, 1], width=width, height=height)
    assert (image.width, image.height) == (width, height)


def test_the_default_size_is_480_by_240() -> None:
    image = chart([1])
    assert (image.width, image.height) == (480, 240)


def test_the_background_is_white() -> None:
    image = chart([5, 9, 2])
    bars = [image.box(colour) for colour in (RED, GREEN, BLUE)]
    axis = image.dark_rows()
    assert image.rows[0] == [WHITE] * image.width
    stray = {
        (x, y)
        for y, row in enumerate(image.rows)
        for x, pixel in enumerate(row)
        if pixel != WHITE
        and y not in axis
        and not any(left <= x < right and top <= y < bottom for left, top, right, bottom in bars)
    }
    assert stray == set()


def test_each_bar_is_a_solid_block_of_its_colour() -> None:
    image = chart([5, 9, 2])
    for colour in (RED, GREEN, BLUE):
        box = image.box(colour)
        assert image.is_filled(box, colour)
        left, top, right, bottom = box
        assert right - left >= 2 and bottom - top >= 2


def test_a_value_twice_as_large_draws_a_bar_twice_as_tall() -> None:
    image = chart([10, 20, 40])
    small, middle, tall = (bar_height(image, colour) for colour in (RED, GREEN, BLUE))
    assert abs(middle - 2 * small) <= 2
    assert abs(tall - 2 * middle) <= 2


@pytest.mark.parametrize("values", [[7, 3, 5], [1, 1_000, 250], [10**30, 10**29, 3 * 10**29]])
def test_bar_heights_follow_the_values(values: list[int]) -> None:
    image = chart(values)
    heights = [bar_height(image, colour) for colour in (RED, GREEN, BLUE)]
    tallest = max(heights)
    for value, height in zip(values, heights, strict=True):
        assert abs(height - tallest * value / max(values)) <= 1.5


def test_the_tallest_bar_fills_most_of_the_height_but_stays_inside() -> None:
    image = chart([3, 8, 5], height=240)
    left, top, right, _ = image.box(GREEN)
    assert bar_height(image, GREEN) >= 0.6 * image.height
    # A white margin above it: the bar does not run into the image's top edge.
    assert top > 0
    assert all(image.rows[y][x] == WHITE for y in range(top) for x in range(left, right))


def test_bars_stand_on_a_thin_dark_axis() -> None:
    image = chart([3, 8, 5])
    axis = image.dark_rows()
    assert 1 <= len(axis) <= 3
    assert axis == list(range(axis[0], axis[-1] + 1))
    for colour in (RED, GREEN, BLUE):
        assert image.box(colour)[3] == axis[0]


def test_a_zero_draws_no_bar_and_leaves_the_others() -> None:
    image = chart([4, 0, 2])
    assert GREEN not in image.colours()
    assert RED in image.colours() and BLUE in image.colours()
    assert abs(bar_height(image, RED) - 2 * bar_height(image, BLUE)) <= 2


def test_a_tiny_value_still_shows_beside_a_huge_one() -> None:
    image = chart([10**9, 1])
    assert bar_height(image, GREEN) >= 1


@pytest.mark.parametrize("values", [[], [0], [0, 0, 0]])
def test_no_bars_or_only_zeros_draw_just_the_axis(values: list[int]) -> None:
    image = chart(values)
    axis = image.dark_rows()
    assert 1 <= len(axis) <= 3
    axis_colours = {pixel for y in axis for pixel in image.rows[y]}
    assert image.colours() == axis_colours
    assert all(row == [WHITE] * image.width for y, row in enumerate(image.rows) if y not in axis)


def test_bars_appear_left_to_right_in_the_given_order_evenly_spaced() -> None:
    colours = [RED, GREEN, BLUE, *PALETTE[:5]]
    image = chart([5, 1, 8, 3, 7, 2, 6, 4], colours)
    boxes = [image.box(colour) for colour in colours]
    lefts = [box[0] for box in boxes]
    assert lefts == sorted(lefts)
    # A white gap between neighbours, and the same step between them to a pixel.
    for (_, _, right, bottom), (next_left, _, _, _) in pairwise(boxes):
        assert next_left > right
        assert image.rows[bottom - 1][right:next_left] == [WHITE] * (next_left - right)
    steps = {b - a for a, b in pairwise(lefts)}
    assert max(steps) - min(steps) <= 1


def test_many_bars_of_one_colour_stay_apart() -> None:
    image = chart([1] * 200, [RED] * 200, width=480)
    _, _, _, bottom = image.box(RED)
    row = image.rows[bottom - 1]
    starts = sum(1 for x in range(1, image.width) if row[x] == RED and row[x - 1] != RED)
    assert starts == 200


@pytest.mark.parametrize(
    ("values", "colour", "size", "message"),
    [
        ([3, -1], RED, {}, "negative"),
        ([3], (256, 0, 0), {}, "colour"),
        ([3], (0, -1, 0), {}, "colour"),
        ([1] * 1_000, RED, {"width": 480}, "do not fit"),
        ([1], RED, {"width": MIN_SIDE - 1}, "width"),
        ([1], RED, {"height": MIN_SIDE - 1}, "height"),
        ([1], RED, {"width": MAX_SIDE + 1}, "width"),
        ([1], RED, {"height": MAX_SIDE + 1}, "height"),
        ([1], RED, {"width": 0}, "width"),
    ],
)
def test_invalid_input_is_refused(
    values: list[int], colour: Rgb, size: dict[str, int], message: str
) -> None:
    bars = [Bar("b", value, colour) for value in values]
    with pytest.raises(ValueError, match=message):
        bar_chart_png(bars, **size)


def test_the_reader_here_refuses_a_corrupted_chart() -> None:
    """The tests above trust this reader: it must notice a flipped byte."""
    data = bytearray(bar_chart_png([Bar("a", 1, RED)]))
    data[len(data) // 2] ^= 0xFF
    with pytest.raises(MalformedPng, match="CRC"):
        read_png(bytes(data))
