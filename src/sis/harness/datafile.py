"""Loading the lab's YAML data files (suites, profiles) with errors that name the file, the
line and the problem."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


class DataFileError(Exception):
    """`FILE:LINE: problem` — one line a user can act on."""

    def __init__(self, path: str | Path, line: int | None, problem: str) -> None:
        self.path = str(path)
        self.line = line
        self.problem = problem
        where = f"{self.path}:{line}" if line else self.path
        super().__init__(f"{where}: {problem}")


class _Loader(yaml.SafeLoader):
    """Safe YAML that remembers the line of every mapping, for error messages."""


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> dict:
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
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataFileError(path, None, "no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise DataFileError(path, None, f"cannot read: {e}") from None
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        raise DataFileError(
            path, mark.line + 1 if mark else None, f"invalid YAML: {e.problem or e}"
        ) from None
    except yaml.YAMLError as e:
        raise DataFileError(path, None, f"invalid YAML: {e}") from None


def line_of(obj: Any, key: str | None = None) -> int | None:
    if isinstance(obj, LineDict):
        return obj.line_of(key) if key else obj.line
    return None


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
