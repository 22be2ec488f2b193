"""Text from outside (names, IDs, addresses, reasons) without characters that hide or forge
what a person reads: control characters and the bidirectional overrides.

NUL ends strings in C and PostgreSQL refuses it; tabs, newlines and line separators forge
extra lines in logs, labels and e-mails; C1 controls and the bidi embeddings, overrides and
isolates make text display in another order than it is stored ("Trojan Source"). None of
them belongs in a name, an ID or an address.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, GetJsonSchemaHandler
from pydantic_core import CoreSchema

# Escapes, not the characters: the same text is a Python and an ECMA-262 (JSON Schema) regex.
_CHARACTERS = (
    r"\x00-\x1f\x7f-\x9f"  # C0 controls, DEL, C1 controls
    r"\u2028\u2029"  # line and paragraph separators
    r"\u202a-\u202e"  # bidi embeddings and overrides
    r"\u2066-\u2069"  # bidi isolates
)
_REFUSED = re.compile(f"[{_CHARACTERS}]")
SAFE_TEXT_PATTERN = f"^[^{_CHARACTERS}]*$"


def refuse_unsafe(text: str) -> str:
    """``text`` unchanged; ValueError naming the first character it may not contain."""
    if found := _REFUSED.search(text):
        raise ValueError(f"contains U+{ord(found.group()):04X}, a control or bidi character")
    return text


class _Documented:
    """The refusal in the OpenAPI document too, as a pattern: clients read it there, and a
    fuzzer drawing valid text draws text we accept."""

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> dict[str, Any]:
        schema: dict[str, Any] = handler(core_schema)
        schema.setdefault("pattern", SAFE_TEXT_PATTERN)
        return schema


# A str field of a request body; add Field(...) for its lengths as for any str.
SafeText = Annotated[str, AfterValidator(refuse_unsafe), _Documented()]
