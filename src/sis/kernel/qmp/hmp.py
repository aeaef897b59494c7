"""The human monitor (`human-monitor-command`): HMP verbs such as `info registers`, matched on
their leading words, answering text with CRLF line ends as QEMU's monitor writes them."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from sis.kernel.qmp.errors import QMPError, one_line

if TYPE_CHECKING:
    from sis.kernel.qmp.server import MachineControl

HMPHandler = Callable[[str], str]
LogFn = Callable[[str, str, dict], None]


class HumanMonitor:
    def __init__(
        self,
        machine: MachineControl,
        *,
        cont: Callable[[], None],
        set_link: Callable[[str, bool], None],
        version: Callable[[], dict],
        log: LogFn,
    ) -> None:
        self._log = log
        self._verbs: dict[str, HMPHandler] = self._builtins(machine, cont, set_link, version)
        self._extra: dict[str, HMPHandler] = {}

    def register(self, command: str, handler: HMPHandler) -> None:
        """Add a verb, e.g. "info foo". `handler(rest_of_line)` returns the text to show;
        exceptions are shown as "Error: ..." lines, as HMP does."""
        key = " ".join(command.split())
        if not key:
            raise ValueError("HMP command must be non-empty")
        if key in self._extra:
            raise ValueError(f"HMP command {key!r} is already registered")
        self._extra[key] = handler

    @staticmethod
    def _builtins(
        m: MachineControl,
        cont: Callable[[], None],
        set_link: Callable[[str, bool], None],
        version: Callable[[], dict],
    ) -> dict[str, HMPHandler]:
        def info_status(rest: str) -> str:
            status = m.status()
            text = "VM status: " + ("running" if m.running() else "paused")
            if not m.running() and status != "paused":
                text += f" ({status})"
            return text + "\n"

        def info_version(rest: str) -> str:
            v = version()
            q = v["qemu"]
            return f"{q['major']}.{q['minor']}.{q['micro']} ({v['package']})\n"

        def link(rest: str) -> str:
            words = rest.split()
            if len(words) != 2 or words[1] not in ("on", "off"):
                return "Usage: set_link name on|off\n"
            set_link(words[0], words[1] == "on")
            return ""

        def do(action: Callable[[], None]) -> HMPHandler:
            def run(rest: str) -> str:
                action()
                return ""

            return run

        return {
            "info status": info_status,
            "info registers": lambda rest: format_registers(m.registers()),
            "info version": info_version,
            "info name": lambda rest: f"{m.name}\n" if m.name else "",
            "stop": do(m.stop),
            "cont": do(cont),
            "c": do(cont),
            "system_reset": do(m.system_reset),
            "system_powerdown": do(m.system_powerdown),
            "set_link": link,
        }

    def run(self, line: str) -> str:
        words = line.split()
        if not words:
            return ""
        verbs = {**self._verbs, **self._extra}
        # The longest registered verb that matches the leading words wins ("info foo" over "info").
        for k in range(len(words), 0, -1):
            handler = verbs.get(" ".join(words[:k]))
            if handler is not None:
                break
        else:
            if words[0] in ("help", "?"):
                return crlf("\n".join(sorted(verbs)) + "\n")
            if words == ["info"]:
                infos = sorted(v for v in verbs if v.startswith("info "))
                return crlf("\n".join(infos) + "\n")
            shown = " ".join(words[:2]) if words[0] == "info" else words[0]
            return f"unknown command: '{shown}'\r\n"
        rest = line.strip()
        for word in words[:k]:
            rest = rest[len(word) :].lstrip()
        try:
            text = handler(rest)
        except QMPError as e:
            text = f"Error: {e.desc}\n"
        except Exception as e:
            self._log("ERROR", "hmp_failed", {"command": line, "error": one_line(e)})
            text = f"Error: {one_line(e)}\n"
        return crlf(text or "")


def format_registers(registers: dict[str, int]) -> str:
    """The `info registers` dump: x0..x30 four to a line, then sp, pc and pstate."""
    order = [f"x{i}" for i in range(31)]
    lines = []
    present = [r for r in order if r in registers]
    for i in range(0, len(present), 4):
        lines.append(
            " ".join(
                f"{r:>3}={registers[r] & 0xFFFF_FFFF_FFFF_FFFF:016x}" for r in present[i : i + 4]
            )
        )
    tail = []
    for r in ("sp", "pc"):
        if r in registers:
            tail.append(f"{r:>3}={registers[r] & 0xFFFF_FFFF_FFFF_FFFF:016x}")
    if "pstate" in registers:
        tail.append(f"pstate={registers['pstate'] & 0xFFFF_FFFF:08x}")
    known = set(order) | {"sp", "pc", "pstate"}
    tail += [
        f"{r}={v & 0xFFFF_FFFF_FFFF_FFFF:016x}" for r, v in registers.items() if r not in known
    ]
    if tail:
        lines.append(" ".join(tail))
    return "".join(line + "\n" for line in lines)


def crlf(text: str) -> str:
    # HMP output lines end in CRLF, as QEMU's monitor writes them.
    return text.replace("\r\n", "\n").replace("\n", "\r\n")
