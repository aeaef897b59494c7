"""MkDocs hook (mkdocs.yml `hooks:`): the docs build on Python before 3.13.

MkDocs scans every page's raw HTML for anchor ids with Python's HTML parser, which before 3.13
raises on `<![` that does not open a CDATA section (CPython gh-77057) — and the docs hold such
text in regexes (`(?<![^\\n])/ # $` in guest-contract.md). Python-Markdown's own parser works
around the same bug by reading it as a bogus comment; this does the same for MkDocs' scan."""

from __future__ import annotations

from mkdocs.structure import pages

_Handler = pages._HTMLHandler
_original = _Handler.parse_html_declaration


def _parse_html_declaration(self: _Handler, i: int) -> int:
    if self.rawdata[i : i + 3] == "<![" and self.rawdata[i : i + 9] != "<![CDATA[":
        end = self.parse_bogus_comment(i, 0)
        if end == -1:
            self.handle_data(self.rawdata[i : i + 1])
            return i + 1
        return end
    return _original(self, i)


_Handler.parse_html_declaration = _parse_html_declaration
