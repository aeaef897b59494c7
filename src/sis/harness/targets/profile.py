"""Target profiles: everything the lab needs to know to run one kind of kernel, as data.

A profile names the program to start and its arguments (with placeholders the lab fills in:
socket paths, image files, memory, CPUs), how the console behaves (prompt, echo, exit-status
marker), which patterns mean the kernel died, what the target can do (capabilities), how
contract commands map to the target's own, and how to shut it down. Built-in profiles live in
sis/harness/profiles/; a user's profile is any YAML file with the same fields.

Profiles are strict: every field has a type, and an unknown field is an error that suggests the
closest known one, so a typo (`capabilites:`) cannot silently turn a feature off. Every problem
is `FILE:LINE: problem`, found when the profile is loaded, before anything boots."""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sis.contract import options
from sis.harness.datafile import (
    DataFileError,
    builtin_names,
    check_keys,
    find_data_file,
    kind_of,
    line_of,
    load_mapping,
    safe_name,
)

PROFILE_DIR = Path(__file__).resolve().parent.parent / "profiles"
PRESETS = ("default", "lowmem", "smp-off", "no-network")
#: Other names of built-in profiles: the reference kernel is also called `sim`.
ALIASES = {"sim": "sis"}
ARCHES = ("x86_64", "i386", "aarch64", "arm", "riscv64", "ppc64le", "s390x")
#: The QEMU a qemu profile runs when it names no `binary`: the one for its `arch`.
QEMU_BINARIES = {
    "x86_64": "qemu-system-x86_64", "i386": "qemu-system-i386", "aarch64": "qemu-system-aarch64",
    "arm": "qemu-system-arm", "riscv64": "qemu-system-riscv64", "ppc64le": "qemu-system-ppc64",
    "s390x": "qemu-system-s390x",
}  # fmt: skip
BUILDERS = ("linux-busybox",)
SHUTDOWN_METHODS = ("powerdown", "quit", "command")
LINE_ENDINGS = ("\n", "\r", "\r\n")
_FALSE = {"", "off", "false", "no", "none", "0"}
# Placeholders the lab fills in itself (ProcessTarget.start and the targets' values()).
RUNTIME_PLACEHOLDERS = frozenset(
    {"console_sock", "log_sock", "qmp_sock", "console_log", "kernel_log", "name"}
)
IMAGE_FILES = ("vmlinux", "kernel", "initramfs", "initrd", "disk")
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_WORD = re.compile(r"[A-Za-z0-9_.-]+")
# A line typed into the shell: a CR, LF or Ctrl-C inside it would be keys, not text.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")

_TOP_KEYS = {
    "name", "description", "kind", "arch", "image", "devices", "console", "exit_status",
    "panic_patterns", "crash_says", "capabilities", "commands", "shutdown", "reset",
}  # fmt: skip
_SECTION_KEYS = {"defaults", "presets", "start_paused", "args"}
_CONSOLE_KEYS = {
    "prompt_regex", "boot_timeout", "boot_marker", "echo", "line_ending", "interrupt",
    "kernel_log", "command_not_found",
}  # fmt: skip
_IMAGE_KEYS = {"builder", "dir", *IMAGE_FILES}
_SHUTDOWN_KEYS = {"method", "command", "timeout"}


@dataclass
class ConsoleSpec:
    prompt_regex: str
    boot_timeout: float = 30.0
    boot_marker: str | None = None
    echo: bool | None = None
    line_ending: str = "\n"
    interrupt: str = "\x03"
    kernel_log: bool = False
    #: How the shell says a command does not exist (e.g. `sh: kill: not found`): a step whose
    #: output matches cannot be run on this target, an ERROR, not a FAIL or a PASS.
    command_not_found: str | None = None


@dataclass
class ShutdownSpec:
    """How to end the target in an orderly way.

    `powerdown`: QMP system_powerdown (the ACPI power button; the guest must act on it);
    `quit`: QMP quit (QEMU exits at once, the guest gets no say); `command`: type `command` on
    the console. Whatever the method, after `timeout` seconds the lab stops waiting and ends
    the process.
    """

    method: str = "powerdown"
    command: str | None = None
    timeout: float = 15.0


@dataclass
class Profile:
    name: str
    kind: str  # "sim" or "qemu"
    args: list[Any]
    console: ConsoleSpec
    description: str = ""
    arch: str | None = None
    binary: str | None = None
    defaults: dict[str, str] = field(default_factory=dict)
    presets: dict[str, dict[str, Any]] = field(default_factory=dict)
    start_paused: bool = True
    image: dict[str, Any] = field(default_factory=dict)
    devices: dict[str, str] = field(default_factory=dict)
    marker_style: str = "inline"
    panic_patterns: list[str] = field(default_factory=list)
    #: What the lab says when a panic pattern matches: "the kernel panicked", "the firmware
    #: aborted", ...
    crash_says: str = "the kernel panicked"
    #: How the target is brought back after a crash: `reboot`, or `snapshot` (resume the
    #: machine as it was just after its first boot: QEMU targets with a disk image).
    reset: str = "reboot"
    capabilities: set[str] = field(default_factory=set)
    commands: dict[str, str] = field(default_factory=dict)
    shutdown: ShutdownSpec = field(default_factory=ShutdownSpec)
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

    def preset_names(self) -> list[str]:
        """The presets this profile defines, `default` first (it always exists)."""
        return ["default", *(p for p in self.presets if p != "default")]

    def capabilities_for(self, preset: str) -> set[str]:
        """What the target can do in this preset (`without:` in a preset takes some away)."""
        return self.capabilities - set(self.presets.get(preset, {}).get("without", []))

    def command_line(self, values: dict[str, str]) -> list[str]:
        """The argument list with placeholders filled and conditional groups resolved.

        A path the lab made (`LAB_PATHS`) that goes into a comma-separated option
        (`file={disk}`, `socket,...,path={console_sock}`, `unix:{qmp_sock}`) has its commas
        doubled, as QEMU and the reference kernel read them: a comma in `--out` must not
        split the option into another file and a stray key."""
        out: list[str] = []
        escaped = {k: options.escape(v) if k in LAB_PATHS else v for k, v in values.items()}

        def add(items: list[Any]) -> None:
            for item in items:
                if isinstance(item, dict):
                    cond = str(values.get(item["if"], "")).lower()
                    if cond not in _FALSE:
                        add(item["args"])
                else:
                    text = str(item)
                    listed = _option_list(out[-1] if out else "", text)
                    try:
                        out.append(text.format(**(escaped if listed else values)))
                    except (KeyError, ValueError, IndexError, AttributeError) as e:
                        raise DataFileError(
                            self.path or self.name,
                            None,
                            f"argument {item!r}: no value for placeholder {e}",
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
    """A built-in profile by name (`sis`, `linux-busybox`; `sim` is `sis`) or a profile file
    by path."""
    if isinstance(name_or_path, str):
        name_or_path = ALIASES.get(name_or_path, name_or_path)
    path = find_data_file(name_or_path, PROFILE_DIR, "profile")
    return parse_profile(load_mapping(path, "a profile"), path)


# ------------------------------------------------------------------------------------ parsing


class _Fields:
    """Typed reads from one mapping of a profile, each failing as `FILE:LINE: where: problem`."""

    def __init__(self, data: Any, path: Path, where: str, parent: Any = None, key: str = ""):
        self.path = path
        self.where = where
        self.prefix = f"{where}: " if where else ""
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise DataFileError(
                path,
                line_of(parent, key),
                f"'{where}' is a mapping of fields, not a {kind_of(data)}",
            )
        self.data = data
        self.fallback_line = line_of(parent, key) if parent is not None else None

    def line(self, key: str | None = None) -> int | None:
        return line_of(self.data, key) or self.fallback_line

    def fail(self, key: str | None, problem: str) -> DataFileError:
        return DataFileError(self.path, self.line(key), f"{self.prefix}{problem}")

    def known(self, keys: set[str]) -> None:
        check_keys(self.data, keys, self.path, self.prefix, line=self.fallback_line)

    def has(self, key: str) -> bool:
        return key in self.data and self.data[key] is not None

    def string(self, key: str, default: str | None = None, *, required: bool = False) -> Any:
        if not self.has(key):
            if required:
                raise self.fail(None, f"missing required field '{key}'")
            return default
        value = self.data[key]
        if not isinstance(value, str):
            raise self.fail(key, f"'{key}' must be a string, not a {kind_of(value)}")
        return value

    def boolean(self, key: str, default: bool | None) -> bool | None:
        if not self.has(key):
            return default
        value = self.data[key]
        if not isinstance(value, bool):
            raise self.fail(key, f"'{key}' must be true or false, not {value!r}")
        return value

    def seconds(self, key: str, default: float) -> float:
        if not self.has(key):
            return default
        value = self.data[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise self.fail(key, f"'{key}' must be a positive number of seconds, not {value!r}")
        return float(value)

    def strings(self, key: str) -> list[str]:
        if not self.has(key):
            return []
        value = self.data[key]
        if not isinstance(value, list):
            raise self.fail(
                key, f"'{key}' must be a list (one item per line), not a {kind_of(value)}"
            )
        for item in value:
            if not isinstance(item, str):
                raise self.fail(key, f"'{key}': item {item!r} must be a string")
        return list(value)

    def mapping(self, key: str) -> _Fields:
        where = f"{self.where}.{key}" if self.where else str(key)
        return _Fields(self.data.get(key), self.path, where, self.data, key)


def _regex(fields: _Fields, key: str, rx: str, what: str) -> str:
    try:
        compiled = re.compile(rx)
    except re.error as e:
        raise fields.fail(key, f"{what} {rx!r} is not a valid regex: {e}") from None
    if compiled.search("") is not None:
        raise fields.fail(key, f"{what} {rx!r} matches empty text, so it would match anywhere")
    return rx


#: Placeholders the lab fills with paths it makes or finds: sockets, captures, images.
LAB_PATHS = frozenset(
    {"console_sock", "log_sock", "qmp_sock", "fuzz_sock", "disk", "console_log", "kernel_log",
     "vmlinux", "kernel", "initramfs", "initrd", "write_log"}
)  # fmt: skip
# Options whose whole argument is a comma-separated list, even when it is one placeholder.
_LIST_OPTIONS = frozenset({"-drive", "-blockdev", "-chardev", "-netdev", "-device", "-object"})
_PLACEHOLDER = re.compile(r"\{[^{}]*\}")
_BACKEND = re.compile(r"^[a-z]+:")  # unix:PATH, tcp:HOST:PORT, file:PATH


def _option_list(previous: str, template: str) -> bool:
    """Whether QEMU (and the reference kernel) split argument `template` at its commas."""
    literal = _PLACEHOLDER.sub("", template)
    return (
        previous in _LIST_OPTIONS
        or "," in literal
        or "=" in literal
        or _BACKEND.match(template) is not None
    )


def _placeholders(fields: _Fields, key: str, text: str, known: set[str]) -> None:
    """Refuse a malformed or unknown placeholder now rather than at boot; and anything but a
    plain `{name}` (str.format would also read `{name.__class__}` or `{disk[0]}`)."""
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as e:
        raise fields.fail(key, f"argument {text!r}: {e} (write {{{{ for a literal brace)") from None
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if not _VARIABLE.fullmatch(name) or spec or conversion:
            raise fields.fail(key, f"argument {text!r}: a placeholder is a plain {{name}}")
        if name not in known:
            raise fields.fail(
                key,
                f"argument {text!r} uses unknown placeholder {{{name}}} "
                f"(known: {', '.join(sorted(known))})",
            )


def _args(fields: _Fields, key: str, items: Any, known: set[str]) -> list[Any]:
    if not isinstance(items, list):
        raise fields.fail(key, f"'{key}' must be a list, not a {kind_of(items)}")
    out: list[Any] = []
    for item in items:
        if isinstance(item, dict):
            where = f"{fields.where}.{key} conditional group"
            group = _Fields(item, fields.path, where, fields.data, key)
            group.known({"if", "args"})
            if "args" not in item:
                raise group.fail(None, "missing required field 'args'")
            variable = group.string("if", required=True)
            if variable not in known:
                raise group.fail(
                    "if",
                    f"'if: {variable}' names no placeholder (known: {', '.join(sorted(known))})",
                )
            out.append({"if": variable, "args": _args(group, "args", item["args"], known)})
        elif isinstance(item, bool) or not isinstance(item, (str, int, float)):
            raise fields.fail(key, f"argument {item!r} must be a string")
        else:
            _placeholders(fields, key, str(item), known)
            out.append(item)
    return out


def _scalar_map(fields: _Fields, what: str, skip: tuple[str, ...] = ()) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in fields.data.items():
        if k in skip:
            continue
        if not isinstance(k, str) or not _VARIABLE.fullmatch(k):
            raise fields.fail(k, f"{what} name {k!r} is not a plain word")
        if isinstance(v, (dict, list)) or v is None:
            raise fields.fail(k, f"'{k}' must be a single value, not a {kind_of(v)}")
        out[k] = v if isinstance(v, str) else str(v)
    return out


def _presets(section: _Fields, defaults: dict[str, str]) -> dict[str, dict[str, Any]]:
    presets = section.mapping("presets")
    out: dict[str, dict[str, Any]] = {}
    for name in presets.data:
        try:
            safe_name(name, "preset name")
        except ValueError as e:
            raise presets.fail(name, str(e)) from None
        preset = presets.mapping(name)
        # A preset overrides placeholders the defaults define: another name is a typo.
        preset.known(set(defaults) | {"without"})
        values: dict[str, Any] = _scalar_map(preset, "placeholder", skip=("without",))
        if "without" in preset.data:
            values["without"] = preset.strings("without")
        out[name] = values
    return out


def _reset_method(top: _Fields, kind: str) -> str:
    method = top.string("reset", "reboot")
    if method not in ("reboot", "snapshot"):
        raise top.fail("reset", f"reset must be reboot or snapshot, not {method!r}")
    if method == "snapshot" and kind != "qemu":
        raise top.fail("reset", "reset: snapshot needs a QEMU target (kind: qemu)")
    return method


def _shutdown(data: _Fields, kind: str) -> ShutdownSpec:
    spec = data.mapping("shutdown")
    spec.known(_SHUTDOWN_KEYS)
    method = spec.string("method", "powerdown")
    if method not in SHUTDOWN_METHODS:
        raise spec.fail("method", f"method must be one of {', '.join(SHUTDOWN_METHODS)}")
    command = spec.string("command")
    if method == "command" and not (command and command.strip()):
        raise spec.fail(None, "method 'command' needs 'command', the line to type")
    if method != "command" and command is not None:
        raise spec.fail("command", f"'command' is only read with method 'command', not {method!r}")
    if command is not None and _CONTROL.search(command):
        raise spec.fail("command", "'command' must be one line (no control characters)")
    timeout = spec.seconds("timeout", 15.0 if kind == "qemu" else 5.0)
    return ShutdownSpec(method=method, command=command, timeout=timeout)


def parse_profile(data: Any, path: Path) -> Profile:
    if not isinstance(data, dict):
        raise DataFileError(path, 1, "a profile is a mapping of fields")
    top = _Fields(data, path, "")
    kind = data.get("kind", "qemu" if "qemu" in data else "sim")
    if kind not in ("sim", "qemu"):
        raise top.fail("kind", f"kind must be sim or qemu, not {kind!r}")
    other = "qemu" if kind == "sim" else "sim"
    if other in data:
        raise top.fail(other, f"a {kind} profile has no '{other}' section (kind: {kind})")
    top.known(_TOP_KEYS | {kind})
    try:
        name = safe_name(top.string("name", required=True), "name")
    except ValueError as e:
        raise top.fail("name", str(e)) from None
    arch = top.string("arch")
    if arch is not None and arch not in ARCHES:
        raise top.fail("arch", f"arch must be one of {', '.join(ARCHES)}, not {arch!r}")

    if kind not in data:
        raise top.fail(None, f"missing required field '{kind}' (kind: {kind})")
    section = top.mapping(kind)
    section.known(_SECTION_KEYS | ({"binary"} if kind == "qemu" else set()))
    binary = section.string("binary") or (QEMU_BINARIES.get(arch or "") if kind == "qemu" else None)
    defaults = _scalar_map(section.mapping("defaults"), "placeholder")
    for k in defaults:
        if k in RUNTIME_PLACEHOLDERS or k in IMAGE_FILES:
            raise section.mapping("defaults").fail(k, f"{{{k}}} is filled in by the lab")
    presets = _presets(section, defaults)

    image = top.mapping("image")
    image.known(_IMAGE_KEYS if kind == "qemu" else set())
    builder = image.string("builder")
    if builder is not None and builder not in BUILDERS:
        raise image.fail("builder", f"no image builder {builder!r} (known: {', '.join(BUILDERS)})")
    files = {k: image.string(k) for k in IMAGE_FILES if image.has(k)}
    if image.has("dir") and builder is None:
        raise image.fail("dir", "'dir' is where a builder's image is: it needs 'builder'")
    image_dir = {"dir": image.string("dir")} if image.has("dir") else {}
    provided = {"disk"} if kind == "sim" else set(files)
    if builder == "linux-busybox":
        provided |= {"vmlinux", "initramfs", "disk"}
    known = set(defaults) | RUNTIME_PLACEHOLDERS | provided
    if not section.has("args"):
        raise section.fail(None, "missing required field 'args'")
    args = _args(section, "args", section.data["args"], known)

    con = top.mapping("console")
    con.known(_CONSOLE_KEYS)
    prompt = _regex(con, "prompt_regex", con.string("prompt_regex", required=True), "prompt_regex")
    line_ending = con.string("line_ending", "\n")
    if line_ending not in LINE_ENDINGS:
        raise con.fail(
            "line_ending", f"line_ending must be \\n, \\r or \\r\\n, not {line_ending!r}"
        )
    interrupt = con.string("interrupt", "\x03")
    if not interrupt:
        raise con.fail("interrupt", "'interrupt' is the byte(s) to send for Ctrl-C; it is empty")
    console = ConsoleSpec(
        prompt_regex=prompt,
        boot_timeout=con.seconds("boot_timeout", 30.0),
        boot_marker=con.string("boot_marker") or None,
        echo=con.boolean("echo", None),
        line_ending=line_ending,
        interrupt=interrupt,
        kernel_log=bool(con.boolean("kernel_log", False)),
        command_not_found=(
            _regex(con, "command_not_found", con.string("command_not_found"), "command_not_found")
            if con.has("command_not_found")
            else None
        ),
    )

    status = top.mapping("exit_status")
    status.known({"style"})
    style = status.string("style", "inline")
    if style not in ("inline", "separate", "none"):
        raise status.fail("style", f"unknown style {style!r} (inline, separate or none)")

    patterns = [
        _regex(top, "panic_patterns", p, "panic pattern") for p in top.strings("panic_patterns")
    ]
    capabilities = top.strings("capabilities")
    for c in capabilities:
        if not _WORD.fullmatch(c):
            raise top.fail("capabilities", f"capability {c!r} is not a plain word")
    presets_without = [c for p in presets.values() for c in p.get("without", [])]
    for c in presets_without:
        if not _WORD.fullmatch(c):
            raise section.fail("presets", f"without: capability {c!r} is not a plain word")

    commands = top.mapping("commands")
    mapped: dict[str, str] = {}
    for word in commands.data:
        if not isinstance(word, str) or not word or " " in word:
            raise commands.fail(word, f"command name {word!r} must be one word")
        line = commands.string(word, required=True)
        if not line.strip() or _CONTROL.search(line):
            raise commands.fail(
                word, f"'{word}' must map to one command line (no control characters)"
            )
        mapped[word] = line

    devices = top.mapping("devices")
    device_ids = {k: devices.string(k, required=True) for k in devices.data}

    return Profile(
        name=name,
        kind=kind,
        args=args,
        description=top.string("description", ""),
        arch=arch,
        binary=binary,
        defaults=defaults,
        presets=presets,
        start_paused=bool(section.boolean("start_paused", True)),
        image={**({"builder": builder} if builder else {}), **image_dir, **files},
        devices=device_ids,
        console=console,
        marker_style=style,
        panic_patterns=patterns,
        crash_says=top.string("crash_says", "the kernel panicked"),
        reset=_reset_method(top, kind),
        capabilities=set(capabilities),
        commands=mapped,
        shutdown=_shutdown(top, kind),
        path=path,
    )
