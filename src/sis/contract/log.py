"""Contract section 4: kernel log levels and the two record formats."""

from __future__ import annotations

import json

# Most to least severe.
LEVELS: tuple[str, ...] = ("FATAL", "ERROR", "WARN", "INFO", "DEBUG", "TRACE")
FORMATS: tuple[str, ...] = ("human", "json")
# Members every JSON record has; `status` carries the event name.
JSON_REQUIRED_KEYS: tuple[str, ...] = ("ts", "seq", "level", "subsystem", "status")


def format_human(ts_us: int, level: str, subsystem: str, text: str, extras: str = "") -> str:
    """`[<seconds, 6 decimals>] [<LEVEL>] <subsystem>: <message>` and optional `k=v` extras."""
    secs, micros = divmod(ts_us, 1_000_000)
    line = f"[{secs:5d}.{micros:06d}] [{level}] {subsystem}: {text}"
    return f"{line} {extras}" if extras else line


def format_json(
    ts_us: int, seq: int, level: str, subsystem: str, event: str, fields: dict[str, object]
) -> str:
    """One JSON object a line; extra key/values are additional members."""
    obj: dict[str, object] = {
        "ts": ts_us,
        "seq": seq,
        "level": level,
        "subsystem": subsystem,
        "status": event,
    }
    for k, v in fields.items():
        obj.setdefault(k, v)
    return json.dumps(obj, separators=(",", ":"), default=str)
