"""The one error of image building."""

from __future__ import annotations

__all__ = ["ImageError"]


class ImageError(Exception):
    """The image cannot be built; the message says what to do about it."""
