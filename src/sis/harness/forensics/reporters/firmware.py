"""Firmware deaths before the kernel runs: U-Boot's exception handlers on arm64
(`"Synchronous Abort" handler, esr 0x96000004`) and on 32-bit ARM (`data abort` with
`pc : [<...>]`). The relocated-away (`reloc`) addresses are the link-time ones, the same on
every run, so they make the title when no symbol map names them."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sis.harness.forensics.lines import Line
from sis.harness.forensics.model import Crash, CrashType, Frame
from sis.harness.forensics.reporters.base import span_of


@dataclass(frozen=True)
class AbortFormat:
    name: str
    header: re.Pattern[str]
    pc: re.Pattern[str]  # group 1: pc, group 2: lr (link-time addresses preferred)


FORMATS: tuple[AbortFormat, ...] = (
    AbortFormat(
        "u-boot-arm64",
        re.compile(r'^"(?P<what>Synchronous Abort|SError|IRQ|FIQ|Error)" handler, esr (?P<esr>0x[0-9a-f]+)'),
        re.compile(r"^elr: ([0-9a-f]+) lr : ([0-9a-f]+)(?P<reloc> \(reloc\))?"),
    ),
    AbortFormat(
        "u-boot-arm",
        re.compile(r"^(?P<what>data abort|prefetch abort|undefined instruction|software interrupt|not used)$"),
        re.compile(r"^(?P<reloc>reloc )?pc : \[<([0-9a-f]+)>\]\s+lr : \[<([0-9a-f]+)>\]"),
    ),
)  # fmt: skip
REGISTER = re.compile(r"\b(x\d{1,2}|r\d{1,2}|sp|ip|fp)\s*:\s*\[?<?([0-9a-f]{8,16})>?\]?")
#: Words every header above has: lines without them are skipped without trying each format.
_MAYBE = re.compile(r"handler|abort|instruction|interrupt|not used")
END = re.compile(r"^(?:Resetting CPU \.\.\.|resetting \.\.\.)$")
MAX_LINES = 60


class FirmwareReporter:
    os = "firmware"

    def parse(self, lines: Sequence[Line]) -> list[Crash]:
        out = []
        for i, line in enumerate(lines):
            if not _MAYBE.search(line.text):
                continue
            for fmt in FORMATS:
                m = fmt.header.match(line.text.strip())
                if m:
                    out.append(self._abort(lines, i, fmt, m))
                    break
        return out

    def _abort(
        self, lines: Sequence[Line], start: int, fmt: AbortFormat, m: re.Match[str]
    ) -> Crash:
        pcs: dict[bool, tuple[int, int]] = {}
        regs: dict[str, int] = {}
        end = None
        last = start
        for j in range(start + 1, min(len(lines), start + MAX_LINES)):
            t = lines[j].text.strip()
            if END.match(t):
                end = j
                break
            if any(f.header.match(t) for f in FORMATS):
                break
            if not t:
                continue
            last = j
            if pm := fmt.pc.search(t):
                nums = [g for g in pm.groups() if g and re.fullmatch(r"[0-9a-f]+", g)]
                pcs[bool(pm.group("reloc"))] = (int(nums[0], 16), int(nums[1], 16))
                continue
            for name, value in REGISTER.findall(t):
                regs.setdefault(name, int(value, 16))
        stop = end if end is not None else last
        span = lines[start : stop + 1]
        pc, lr = pcs.get(True) or pcs.get(False) or (None, None)
        frames = [Frame(address=a) for a in (pc, lr) if a is not None]
        if pc is not None:
            regs["pc"], regs["lr"] = pc, lr or 0
        reasons = [] if end is not None else ["truncated: no reset after the register dump"]
        crash = Crash(
            type=CrashType.FIRMWARE_ABORT,
            title="",
            frames=frames,
            registers=regs,
            corrupted=bool(reasons),
            corrupted_reason="; ".join(reasons),
            **span_of(span),
            os=self.os,
            arch="arm64" if fmt.name == "u-boot-arm64" else "arm",
            message=lines[start].text.strip(),
            fatal=True,
            format=fmt.name,
            title_args={
                "what": m.group("what"),
                "esr": m.groupdict().get("esr") or "",
                "pc": f"{pc:#x}" if pc is not None else "",
            },
        )
        return self.retitle(crash)

    def retitle(self, crash: Crash) -> Crash:
        a = crash.title_args
        top = crash.frames[0] if crash.frames else None
        crash.frame = top.function if top is not None and top.function else None
        where = crash.frame or a.get("pc") or ""
        esr = f" (esr {a['esr']})" if a.get("esr") else ""
        crash.title = f"U-Boot: {a.get('what', 'abort')}{esr}" + (f" in {where}" if where else "")
        return crash
