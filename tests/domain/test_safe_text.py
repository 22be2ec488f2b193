"""SafeText: free text without control characters or bidi overrides, and nothing else refused."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from domain.safe_text import SafeText


class Named(BaseModel):
    name: SafeText


REFUSED = [chr(c) for c in (*range(0x20), *range(0x7F, 0xA0))] + [
    "\u2028",
    "\u2029",
    *(chr(c) for c in range(0x202A, 0x202F)),
    *(chr(c) for c in range(0x2066, 0x206A)),
]


@pytest.mark.parametrize("character", REFUSED, ids=lambda c: f"U+{ord(c):04X}")
def test_control_and_bidi_characters_are_refused_anywhere(character: str) -> None:
    for text in (character, f"Li{character}Na", f"Li Na{character}"):
        with pytest.raises(ValidationError, match=f"U\\+{ord(character):04X}"):
            Named(name=text)


@pytest.mark.parametrize(
    "name",
    [
        "Li Na",
        "李娜",
        "Zoë Łukasiewicz-O'Brien",
        "لي نا",
        "לי נה",
        "👩\u200d👩\u200d👧",
        "a\u00a0b",
    ],
)
def test_text_in_any_script_is_taken_unchanged(name: str) -> None:
    assert Named(name=name).name == name
