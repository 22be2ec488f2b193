"""Durations as people read them on a timeline."""

from __future__ import annotations

from datetime import timedelta

UNITS = (("d", 86400), ("h", 3600), ("min", 60), ("s", 1))


def describe_duration(duration: timedelta) -> str:
    """48 h → '2d', 90 min → '1h 30min', 10 s → '10s'."""
    seconds = int(duration.total_seconds())
    if seconds <= 0:
        return "0s"
    parts = []
    for name, size in UNITS:
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{name}")
    return " ".join(parts)
