"""MachineConfig: everything the QEMU-style command line says about a machine, and the presets."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from sis.contract import bugs as bugs_contract
from sis.contract import options

LOG_LEVELS = ("fatal", "error", "warn", "info", "debug", "trace")
KNOWN_FEATURES = frozenset({"chaos"})
#: -drive keys: those the kernel uses, and those QEMU users pass that it has no use for.
DRIVE_KEYS = ("file", "format", "readonly", "snapshot", "log")
DRIVE_KEYS_IGNORED = ("if", "id", "cache")
#: Options habitually appended to a chardev address; SIS always listens and never waits.
CHARDEV_OPTIONS = ("server", "server=on", "nowait", "wait=off")
_BOOL = {"on": True, "true": True, "yes": True, "off": False, "false": False, "no": False}


class ConfigError(ValueError):
    """A bad option or value; the message is one line a user can act on."""


@dataclass(frozen=True)
class ChardevSpec:
    """Where a serial port or the QMP monitor is connected."""

    kind: str  # "stdio" | "unix" | "tcp" | "null"
    path: str | None = None
    host: str | None = None
    port: int | None = None

    def __str__(self) -> str:
        if self.kind == "unix":
            return f"unix:{options.escape(self.path or '')}"
        if self.kind == "tcp":
            return f"tcp:{self.host}:{self.port}"
        return self.kind


@dataclass(frozen=True)
class NicSpec:
    kind: str  # "none" | "user" | "hub"
    port: int | None = None


@dataclass(frozen=True)
class DriveSpec:
    file: str
    read_only: bool = False
    log: str | None = None  # log=PATH: every write and flush recorded (dm-log-writes)


@dataclass(frozen=True)
class MachineConfig:
    memory_bytes: int = 256 << 20
    cpus: int = 2
    drive: DriveSpec | None = None
    nic: NicSpec = NicSpec("user")
    serials: tuple[ChardevSpec, ...] = (ChardevSpec("stdio"),)
    qmp: ChardevSpec | None = None
    cmdline: dict[str, str] = field(default_factory=dict)
    features: frozenset[str] = frozenset()
    no_reboot: bool = False
    start_paused: bool = False
    name: str | None = None
    preset: str = "custom"

    # Kernel command line, interpreted.
    @property
    def log_format(self) -> str:
        return self.cmdline.get("log", "human")

    @property
    def log_level(self) -> str:
        return self.cmdline.get("loglevel", "info")

    @property
    def quiet(self) -> bool:
        return "quiet" in self.cmdline

    @property
    def panic_timeout(self) -> int:
        return int(self.cmdline.get("panic", "0"))

    @property
    def bugs(self) -> frozenset[str]:
        """Planted bugs (contract section 9), checked by parse_append."""
        value = self.cmdline.get(bugs_contract.CMDLINE_KEY)
        return frozenset(bugs_contract.parse(value)) if value else frozenset()

    @property
    def bug_placement(self) -> bugs_contract.Placement:
        """Where the planted bugs' triggers sit (sis.bug_seed, checked by parse_append)."""
        value = self.cmdline.get(bugs_contract.SEED_KEY)
        seed = bugs_contract.parse_seed(value) if value else bugs_contract.DEFAULT_SEED
        return bugs_contract.placement(seed)


PRESETS: dict[str, dict] = {
    "default": {"memory_bytes": 256 << 20, "cpus": 2},
    "lowmem": {"memory_bytes": 128 << 20},
    "smp-off": {"cpus": 1},
    "no-network": {"nic": NicSpec("none")},
}


def preset(name: str, base: MachineConfig | None = None) -> MachineConfig:
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r} (known: {', '.join(PRESETS)})")
    return replace(base or MachineConfig(), preset=name, **PRESETS[name])


def matching_preset(cfg: MachineConfig) -> str:
    """The preset this machine is, or "custom" (reported by `version` as the profile)."""
    base = MachineConfig()
    for name, fields in PRESETS.items():
        want = replace(base, **fields)
        if (cfg.memory_bytes, cfg.cpus, cfg.nic.kind) == (
            want.memory_bytes,
            want.cpus,
            want.nic.kind,
        ):
            return name
    return "custom"


PRESET_ARGS: dict[str, list[str]] = {
    "default": ["-m", "256M", "-smp", "2"],
    "lowmem": ["-m", "128M"],
    "smp-off": ["-smp", "1"],
    "no-network": ["-nic", "none"],
}

_SIZE = re.compile(r"^(\d+)([KMGT]?)(i?B)?$", re.IGNORECASE)


def parse_size(text: str, *, default_unit: str = "M") -> int:
    """'256M', '1G', '64MiB', '131072K', plain numbers in `default_unit` (QEMU's -m rule)."""
    m = _SIZE.match(text.strip())
    if not m:
        raise ConfigError(f"invalid size {text!r} (expected e.g. 256M or 1G)")
    number, unit = int(m.group(1)), (m.group(2) or default_unit).upper()
    if unit == "B":
        return number
    return number << {"K": 10, "M": 20, "G": 30, "T": 40}[unit]


def parse_chardev(text: str, what: str) -> ChardevSpec:
    if text in ("stdio", "mon:stdio"):
        return ChardevSpec("stdio")
    if text in ("null", "none"):
        return ChardevSpec("null")
    if text.startswith(("unix:", "tcp:")):
        _chardev_options(text, what)
    if text.startswith("unix:"):
        path = options.split(text[5:])[0]
        if not path:
            raise ConfigError(f"{what}: unix: needs a socket path, e.g. unix:/tmp/sis.sock")
        return ChardevSpec("unix", path=path)
    if text.startswith("tcp:"):
        hostport = options.split(text[4:])[0]
        host, sep, port = hostport.rpartition(":")
        if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ConfigError(
                f"{what}: tcp: needs HOST:PORT, e.g. tcp:127.0.0.1:4444 (got {text!r})"
            )
        return ChardevSpec("tcp", host=host or "127.0.0.1", port=int(port))
    raise ConfigError(
        f"{what}: unsupported device {text!r} (use stdio, unix:PATH or tcp:HOST:PORT)"
    )


def _chardev_options(text: str, what: str) -> None:
    for opt in options.split(text)[1:]:
        if opt and opt not in CHARDEV_OPTIONS:
            raise ConfigError(
                f"{what} {text}: unsupported option {opt!r} (SIS always listens as a server and "
                "never waits; a comma in a path is written ,,)"
            )


def parse_kv(text: str) -> dict[str, str]:
    """QEMU option syntax: 'file=disk.img,readonly=on' -> dict. A bare first word is 'kind'.
    A comma inside a value is written twice: 'file=a,,b.img' is the file 'a,b.img'."""
    out: dict[str, str] = {}
    for i, part in enumerate(p for p in options.split(text) if p):
        key, sep, value = part.partition("=")
        if not sep:
            if i == 0:
                out["kind"] = key
                continue
            value = "on"
        out[key] = value
    return out


def parse_drive(text: str) -> DriveSpec:
    """`-drive file=PATH[,format=raw][,readonly=on|off][,log=LOG]`, plus the keys QEMU users pass that the
    kernel has no use for (`if`, `id`, `cache`; `snapshot=off`). Any other key is an error: a
    path with an unescaped comma must not quietly become another file and a stray key."""
    kv = parse_kv(text)
    if "kind" in kv:
        raise ConfigError(f"-drive {text}: {kv['kind']!r} is not KEY=VALUE (file=PATH)")
    for key in kv:
        if key not in DRIVE_KEYS and key not in DRIVE_KEYS_IGNORED:
            known = ", ".join((*DRIVE_KEYS, *DRIVE_KEYS_IGNORED))
            raise ConfigError(
                f"-drive {text}: unknown key {key!r} (known: {known}; a comma in a path is "
                "written ,,)"
            )
    path = kv.get("file")
    if not path:
        raise ConfigError(f"-drive {text}: needs file=PATH")
    if kv.get("format", "raw") != "raw":
        raise ConfigError(f"-drive {text}: only format=raw images are supported")
    for key in ("readonly", "snapshot"):
        if key in kv and kv[key] not in _BOOL:
            raise ConfigError(f"-drive {text}: {key}={kv[key]} is not on or off")
    if _BOOL.get(kv.get("snapshot", "off")):
        raise ConfigError(f"-drive {text}: snapshot=on is not supported (writes would persist)")
    return DriveSpec(path, read_only=_BOOL[kv.get("readonly", "off")], log=kv.get("log") or None)


def parse_append(text: str) -> dict[str, str]:
    """Kernel command line 'log=json loglevel=debug quiet panic=5' -> dict ('quiet' -> '')."""
    out: dict[str, str] = {}
    for word in text.split():
        key, _, value = word.partition("=")
        out[key] = value
    if "log" in out and out["log"] not in ("json", "human"):
        raise ConfigError(f"-append: log={out['log']} is not json or human")
    if "loglevel" in out and out["loglevel"].lower() not in LOG_LEVELS:
        raise ConfigError(
            f"-append: loglevel={out['loglevel']} is not one of {', '.join(LOG_LEVELS)}"
        )
    if "loglevel" in out:
        out["loglevel"] = out["loglevel"].lower()
    if "panic" in out:
        try:
            int(out["panic"])
        except ValueError:
            raise ConfigError(f"-append: panic={out['panic']} is not a number of seconds") from None
    if bugs_contract.CMDLINE_KEY in out:
        try:
            bugs_contract.parse(out[bugs_contract.CMDLINE_KEY])
        except bugs_contract.UnknownBug as e:
            raise ConfigError(f"-append: {bugs_contract.CMDLINE_KEY}: {e}") from None
    if bugs_contract.SEED_KEY in out:
        try:
            bugs_contract.parse_seed(out[bugs_contract.SEED_KEY])
        except bugs_contract.UnknownBug as e:
            raise ConfigError(f"-append: {e}") from None
    return out
