"""Loading the lab's YAML data files (suites, profiles) with errors that name the file, the
line and the problem.

The files come from users and are read before anything boots, so the loader refuses what would
hurt the lab rather than the kernel: files over `MAX_FILE_BYTES`, bytes that are not UTF-8,
aliases that expand to more than `MAX_ALIAS_NODES` nodes (a "billion laughs" document is a few
hundred bytes), nesting deeper than `MAX_DEPTH`, duplicate keys (YAML would keep the last one
silently) and values Python cannot build (a 5000-digit integer, the 13th month)."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

MAX_FILE_BYTES = 1 << 20
#: Nodes that aliases may add to a document, all aliases together.
MAX_ALIAS_NODES = 10_000
MAX_DEPTH = 50
MAX_NAME_LENGTH = 64

# A name that becomes part of a file name: starts with a letter or digit, then letters, digits,
# `.`, `_`, `-` or `+`. No `/`, no `..` component, no control characters, no spaces.
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class DataFileError(Exception):
    """`FILE:LINE: problem` — one line a user can act on."""

    def __init__(self, path: str | Path, line: int | None, problem: str) -> None:
        self.path = str(path)
        self.line = line
        self.problem = problem
        where = f"{self.path}:{line}" if line else self.path
        super().__init__(f"{where}: {problem}")


class _Refused(yaml.MarkedYAMLError):
    """A document the loader will not build; the problem is said as is (no "invalid YAML")."""


class _Loader(yaml.SafeLoader):
    """Safe YAML that remembers the line of every mapping, for error messages, and refuses
    documents that would take the lab's memory or stack (see the module docstring)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._alias_nodes = 0
        self._depth = 0
        self._open_anchors: list[str] = []
        self._sizes: dict[int, int] = {}

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            if event.anchor in self._open_anchors:
                raise _Refused(
                    None, None, f"alias *{event.anchor} refers to a node it is part of",
                    event.start_mark,
                )  # fmt: skip
            node = super().compose_node(parent, index)
            self._alias_nodes += self._size(node)
            if self._alias_nodes > MAX_ALIAS_NODES:
                raise _Refused(
                    None,
                    None,
                    f"aliases expand to more than {MAX_ALIAS_NODES} nodes (at *{event.anchor}); "
                    "write the values out instead",
                    event.start_mark,
                )
            return node
        event = self.peek_event()
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _Refused(None, None, f"nested deeper than {MAX_DEPTH} levels", event.start_mark)
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            self._open_anchors.append(anchor)
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1
            if anchor is not None:
                self._open_anchors.pop()

    def _size(self, node: yaml.Node) -> int:
        """How many nodes `node` stands for once every alias inside it is expanded."""
        known = self._sizes.get(id(node))
        if known is not None:
            return known
        size = 1
        if isinstance(node, yaml.SequenceNode):
            size += sum(self._size(n) for n in node.value)
        elif isinstance(node, yaml.MappingNode):
            size += sum(self._size(k) + self._size(v) for k, v in node.value)
        self._sizes[id(node)] = size
        return size

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError) as e:
            # int() of thousands of digits, a timestamp with month 13, ...
            raise _Refused(None, None, f"bad value: {e}", node.start_mark) from None


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> dict:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue  # `<<: *base` then overriding a key is what merge keys are for
        key = loader.construct_object(key_node, deep=True)
        try:
            first = seen.get(key)
        except TypeError:
            continue  # unhashable: construct_mapping below says so
        if first is not None:
            raise _Refused(
                None, None, f"duplicate key {key!r} (first on line {first})", key_node.start_mark
            )
        seen[key] = key_node.start_mark.line + 1
    mapping = LineDict(loader.construct_mapping(node, deep=True))
    mapping.line = node.start_mark.line + 1
    mapping.key_lines = {
        k.value: k.start_mark.line + 1 for k, _ in node.value if isinstance(k, yaml.ScalarNode)
    }
    return mapping


class LineDict(dict):
    line: int = 0
    key_lines: dict[str, int]

    def line_of(self, key: str) -> int:
        return getattr(self, "key_lines", {}).get(key, self.line)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml(path: str | Path) -> Any:
    path = Path(path)
    try:
        with path.open("rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise DataFileError(path, None, "no such file") from None
    except OSError as e:
        raise DataFileError(path, None, f"cannot read: {e.strerror or e}") from None
    if len(data) > MAX_FILE_BYTES:
        raise DataFileError(path, None, f"larger than {MAX_FILE_BYTES >> 20} MiB: not a data file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise DataFileError(path, line, f"not UTF-8 text (byte 0x{data[e.start]:02x})") from None
    loader = _Loader(text)
    try:
        return loader.get_single_data()
    except _Refused as e:
        mark = e.problem_mark
        raise DataFileError(path, mark.line + 1 if mark else None, str(e.problem)) from None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        raise DataFileError(
            path, mark.line + 1 if mark else None, f"invalid YAML: {e.problem or e}"
        ) from None
    except yaml.YAMLError as e:
        raise DataFileError(path, None, f"invalid YAML: {e}") from None
    except RecursionError:
        raise DataFileError(path, None, "invalid YAML: nested too deeply") from None
    finally:
        loader.dispose()


def load_mapping(path: str | Path, what: str) -> LineDict:
    """A data file whose document must be a mapping (`what` says of what, for the error)."""
    data = load_yaml(path)
    if isinstance(data, dict):
        return data  # type: ignore[return-value]
    found = "empty" if data is None else f"a {kind_of(data)}"
    raise DataFileError(path, 1, f"{what} is a mapping of fields; this file is {found}")


def kind_of(value: Any) -> str:
    """How an error names what a field holds: "list", "string", "mapping", ..."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "mapping"
    return type(value).__name__


def line_of(obj: Any, key: str | None = None) -> int | None:
    if isinstance(obj, LineDict):
        return obj.line_of(key) if key else obj.line
    return None


def safe_name(text: Any, what: str) -> str:
    """`text` if it can be part of a file name, else ValueError saying why.

    Names of profiles, presets and suites end up in file names under `--out`; a name with `/`
    or `..` would write outside it. Callers turn the ValueError into `FILE:LINE: problem`.
    """
    if not isinstance(text, str):
        raise ValueError(f"{what} must be a string, not a {kind_of(text)}")
    if not text:
        raise ValueError(f"{what} is empty")
    if len(text) > MAX_NAME_LENGTH:
        raise ValueError(f"{what} is longer than {MAX_NAME_LENGTH} characters")
    if not _SAFE_NAME.fullmatch(text) or ".." in text:
        raise ValueError(
            f"{what} {text!r} may use only letters, digits and . _ - + (no '/', no '..', "
            "no spaces), starting with a letter or digit"
        )
    return text


def display_name(text: Any, what: str, limit: int = 200) -> str:
    """`text` if it is fit to show as a name (one line, printable), else ValueError."""
    if not isinstance(text, str):
        raise ValueError(f"{what} must be a string, not a {kind_of(text)}")
    if not text.strip():
        raise ValueError(f"{what} is empty")
    if len(text) > limit:
        raise ValueError(f"{what} is longer than {limit} characters")
    if _CONTROL.search(text):
        raise ValueError(f"{what} {text!r} contains control characters")
    return text


def check_keys(
    data: dict, allowed: Iterable[str], path: str | Path, what: str, *, line: int | None = None
) -> None:
    """Refuse a key not in `allowed`, suggesting the closest known one (a typo is the usual
    cause, and a misspelt key silently ignored is worse than an error)."""
    known = sorted(allowed)
    for key in data:
        if key in known:
            continue
        close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'?" if close else f"known: {', '.join(known)}"
        raise DataFileError(
            path, line_of(data, key) or line, f"{what}unknown field {str(key)!r} ({hint})"
        )


def builtin_names(directory: Path) -> list[str]:
    return sorted(p.stem for p in directory.glob("*.yaml"))


def find_data_file(name_or_path: str | Path, directory: Path, what: str) -> Path:
    """A built-in data file by name (`basic_commands`) or any file by path."""
    path = Path(name_or_path)
    if path.suffix or path.exists():
        return path
    candidate = directory / f"{name_or_path}.yaml"
    if not candidate.exists():
        known = ", ".join(builtin_names(directory))
        raise DataFileError(
            str(name_or_path), None, f"no such {what} (built in: {known}; or give a file)"
        )
    return candidate
