"""Target profiles: everything the lab needs to know to run one kind of kernel, as data.

A profile names the program to start and its arguments (with placeholders the lab fills in:
socket paths, image files, memory, CPUs), how the console behaves (prompt, echo, exit-status
marker), which patterns mean the kernel died, what the target can do (capabilities), and how
contract commands map to the target's own. Built-in profiles live in sis/harness/profiles/;
a user's profile is any YAML file with the same fields."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sis.harness.datafile import DataFileError, builtin_names, find_data_file, line_of, load_yaml

PROFILE_DIR = Path(__file__).resolve().parent.parent / "profiles"
PRESETS = ("default", "lowmem", "smp-off", "no-network")
_FALSE = {"", "off", "false", "no", "none", "0"}


@dataclass
class ConsoleSpec:
    prompt_regex: str
    boot_timeout: float = 30.0
    boot_marker: str | None = None
    echo: bool | None = None
    line_ending: str = "\n"
    interrupt: str = "\x03"
    kernel_log: bool = False


@dataclass
class Profile:
    name: str
    kind: str  # "sim" or "qemu"
    args: list[Any]
    console: ConsoleSpec
    description: str = ""
    binary: str | None = None
    defaults: dict[str, str] = field(default_factory=dict)
    presets: dict[str, dict[str, str]] = field(default_factory=dict)
    start_paused: bool = True
    image: dict[str, Any] = field(default_factory=dict)
    devices: dict[str, str] = field(default_factory=dict)
    marker_style: str = "inline"
    panic_patterns: list[str] = field(default_factory=list)
    capabilities: set[str] = field(default_factory=set)
    commands: dict[str, str] = field(default_factory=dict)
    path: Path | None = None

    def variables(self, preset: str) -> dict[str, str]:
        if preset not in self.presets and preset != "default":
            known = ", ".join(sorted(set(self.presets) | {"default"}))
            raise DataFileError(
                self.path or self.name, None, f"no preset {preset!r} (known: {known})"
            )
        overrides = {k: v for k, v in self.presets.get(preset, {}).items() if k != "without"}
        return {
            **{k: str(v) for k, v in self.defaults.items()},
            **{k: str(v) for k, v in overrides.items()},
        }

    def capabilities_for(self, preset: str) -> set[str]:
        """What the target can do in this preset (`without:` in a preset takes some away)."""
        return self.capabilities - set(self.presets.get(preset, {}).get("without", []))

    def command_line(self, values: dict[str, str]) -> list[str]:
        """The argument list with placeholders filled and conditional groups resolved."""
        out: list[str] = []

        def add(items: list[Any]) -> None:
            for item in items:
                if isinstance(item, dict):
                    cond = str(values.get(item["if"], "")).lower()
                    if cond not in _FALSE:
                        add(item["args"])
                else:
                    try:
                        out.append(str(item).format(**values))
                    except KeyError as e:
                        raise DataFileError(
                            self.path or self.name,
                            None,
                            f"argument {item!r} uses unknown placeholder {e}",
                        ) from None

        add(self.args)
        return out

    def map_command(self, command: str) -> str:
        """A contract command line as this target spells it (`memstats` -> `free -k` on Linux)."""
        word, _, rest = command.partition(" ")
        mapped = self.commands.get(word)
        if mapped is None:
            return command
        return f"{mapped} {rest}".rstrip() if rest else mapped


def builtin_profiles() -> list[str]:
    return builtin_names(PROFILE_DIR)


def load_profile(name_or_path: str | Path) -> Profile:
    """A built-in profile by name (`sis`, `linux-busybox`) or a profile file by path."""
    path = find_data_file(name_or_path, PROFILE_DIR, "profile")
    return parse_profile(load_yaml(path), path)


def _need(data: Any, key: str, kind: type | tuple[type, ...], path: Path, what: str = "") -> Any:
    if not isinstance(data, dict) or key not in data:
        raise DataFileError(path, line_of(data), f"{what}missing required field '{key}'")
    value = data[key]
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise DataFileError(path, line_of(data, key), f"{what}'{key}' must be a {names}")
    return value


def _check_args(items: Any, path: Path, where: int | None) -> None:
    if not isinstance(items, list):
        raise DataFileError(path, where, "'args' must be a list")
    for item in items:
        if isinstance(item, dict):
            if set(item) != {"if", "args"}:
                raise DataFileError(
                    path, line_of(item), "a conditional argument group has exactly 'if' and 'args'"
                )
            _check_args(item["args"], path, line_of(item, "args"))
        elif not isinstance(item, (str, int, float)):
            raise DataFileError(path, where, f"argument {item!r} is not a string")


def parse_profile(data: Any, path: Path) -> Profile:
    if not isinstance(data, dict):
        raise DataFileError(path, None, "a profile is a mapping of fields")
    name = _need(data, "name", str, path)
    kind = data.get("kind", "qemu" if "qemu" in data else "sim")
    if kind not in ("sim", "qemu"):
        raise DataFileError(path, line_of(data, "kind"), f"kind must be sim or qemu, not {kind!r}")
    section = _need(data, kind, dict, path)
    args = _need(section, "args", list, path, f"{kind}: ")
    _check_args(args, path, line_of(section, "args"))
    con = _need(data, "console", dict, path)
    prompt = con.get("prompt_regex") or con.get("prompt")
    if not isinstance(prompt, str):
        raise DataFileError(path, line_of(con), "console: missing required field 'prompt_regex'")
    try:
        re.compile(prompt)
    except re.error as e:
        raise DataFileError(
            path, line_of(con, "prompt_regex"), f"console: prompt_regex is not a valid regex: {e}"
        ) from None
    patterns = data.get("panic_patterns", [])
    if not isinstance(patterns, list):
        raise DataFileError(
            path, line_of(data, "panic_patterns"), "'panic_patterns' must be a list"
        )
    for p in patterns:
        try:
            re.compile(str(p))
        except re.error as e:
            raise DataFileError(
                path, line_of(data, "panic_patterns"), f"panic pattern {p!r}: {e}"
            ) from None
    presets = section.get("presets", data.get("presets", {})) or {}
    if not isinstance(presets, dict) or not all(isinstance(v, dict) for v in presets.values()):
        raise DataFileError(
            path, line_of(section, "presets"), "'presets' maps a preset name to placeholder values"
        )
    style = (data.get("exit_status") or {}).get("style", "inline")
    if style not in ("inline", "separate", "none"):
        raise DataFileError(
            path, line_of(data, "exit_status"), f"exit_status: unknown style {style!r}"
        )
    commands = data.get("commands", {}) or {}
    if not isinstance(commands, dict):
        raise DataFileError(
            path, line_of(data, "commands"), "'commands' maps a command to its replacement"
        )
    timeout = con.get("boot_timeout", 30)
    if not isinstance(timeout, (int, float)) or timeout <= 0:
        raise DataFileError(
            path, line_of(con, "boot_timeout"), "console: boot_timeout must be a positive number"
        )
    return Profile(
        name=name,
        kind=kind,
        args=list(args),
        description=str(data.get("description", "")),
        binary=section.get("binary"),
        defaults={k: str(v) for k, v in (section.get("defaults") or {}).items()},
        presets={k: dict(v) for k, v in presets.items()},
        start_paused=bool(section.get("start_paused", True)),
        image=dict(data.get("image") or {}),
        devices={k: str(v) for k, v in (data.get("devices") or {}).items()},
        console=ConsoleSpec(
            prompt_regex=prompt,
            boot_timeout=float(timeout),
            boot_marker=con.get("boot_marker"),
            echo=con.get("echo"),
            line_ending=str(con.get("line_ending", "\n")).replace("\r\n", "\n"),
            interrupt=str(con.get("interrupt", "\x03")),
            kernel_log=bool(con.get("kernel_log")),
        ),
        marker_style=style,
        panic_patterns=[str(p) for p in patterns],
        capabilities={str(c) for c in data.get("capabilities", []) or []},
        commands={str(k): str(v) for k, v in commands.items()},
        path=path,
    )
