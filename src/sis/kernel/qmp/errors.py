"""QMP errors: what a command handler raises to answer `{"error": {"class", "desc"}}`."""

from __future__ import annotations

GENERIC = "GenericError"
NOT_FOUND = "CommandNotFound"


class QMPError(Exception):
    """Raised by a command handler; becomes `{"error": {"class": cls, "desc": desc}}`."""

    def __init__(self, desc: str, cls: str = GENERIC) -> None:
        super().__init__(desc)
        self.desc = desc
        self.cls = cls


def one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text}" if text else type(e).__name__
