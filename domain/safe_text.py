"""Text from outside (names, IDs, addresses, reasons) without characters that hide or forge
what a person reads: control characters and the bidirectional overrides.

NUL ends strings in C and PostgreSQL refuses it; tabs, newlines and line separators forge
extra lines in logs, labels and e-mails; C1 controls and the bidi embeddings, overrides and
isolates make text display in another order than it is stored ("Trojan Source"). None of
them belongs in a name, an ID or an address.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

_REFUSED = re.compile(
    "["
    "\x00-\x1f\x7f-\x9f"  # C0 controls, DEL, C1 controls
    "\u2028\u2029"  # line and paragraph separators
    "\u202a-\u202e"  # bidi embeddings and overrides
    "\u2066-\u2069"  # bidi isolates
    "]"
)


def refuse_unsafe(text: str) -> str:
    """``text`` unchanged; ValueError naming the first character it may not contain."""
    if found := _REFUSED.search(text):
        raise ValueError(f"contains U+{ord(found.group()):04X}, a control or bidi character")
    return text


# A str field of a request body; add Field(...) for its lengths as for any str.
SafeText = Annotated[str, AfterValidator(refuse_unsafe)]
