"""SIS kernel panics (docs/contract.md section 7): the report between a rule of `=` with
`!!! KERNEL PANIC !!!` and `System halted.`, a `RECURSIVE PANIC:` line, or, where only the
kernel log was captured, the FATAL `panic` log record (human or JSON)."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from sis.harness.forensics.lines import Line
from sis.harness.forensics.model import Crash, CrashType, Frame
from sis.harness.forensics.reporters.base import compile_all, guilty, normalize_message, span_of

HEADER = re.compile(r"^!+ KERNEL PANIC !+$")
RULE = re.compile(r"^={20,}$")
END = re.compile(r"^System halted\.$")
RECURSIVE = re.compile(r"^RECURSIVE PANIC: (?P<msg>.*)$")
SECTION = re.compile(r"^[A-Z][A-Z ]+:$")
FIELDS = {
    "location": re.compile(r"^\s+Location:\s*(.*)$"),
    "message": re.compile(r"^\s+Message:\s*(.*)$"),
    "task": re.compile(r"^\s+Task:\s*(.*)$"),
    "exception": re.compile(r"^\s+Exception:\s*(.*)$"),
    "version": re.compile(r"^\s+Version:\s*(.*)$"),
    "dump": re.compile(r"^\s+Saved to (.*)$"),
}
REGISTER = re.compile(r"\b(x\d{1,2}|sp|pc):\s*([0-9a-f]{16})\b")
FRAME = re.compile(r"^\s+#(\d+):\s*([0-9a-f]{16})\s+(\S+)$")
SYMBOL = re.compile(r"^(?P<func>[\w.<>]+)\+0x(?P<off>[0-9a-f]+)$")
FATAL_HUMAN = re.compile(
    r'^\[FATAL\] panic: (?P<msg>.*?)(?: location=(?P<loc>"(?:[^"\\]|\\.)*"|\S+))?(?: crash_dump=\S*)?$'
)

#: Frames of the panic path, the syscall entry and the scheduler: never the guilty one.
#: User space (shell.*) is below the kernel entry: a kernel panic is the kernel's fault.
SKIP = compile_all(
    [
        r"panic\..*|kernel\.Kernel\.panic|kernel\.Kernel\.syscall_entry|kernel\.Kernel\._user_entry",
        r"syscall\.entry\..*|proc\.sched\..*|machine\..*|shell\..*",
    ]
)
#: How many lines after `System halted.` the FATAL record of the same panic may come.
RECORD_WINDOW = 5
#: The longest report: one with no `System halted.` is cut here.
MAX_LINES = 1000


class SisReporter:
    os = "sis"

    def parse(self, lines: Sequence[Line]) -> list[Crash]:
        out: list[Crash] = []
        i = 0
        last_end = -1
        while i < len(lines):
            text = lines[i].text
            if "PANIC" not in text and "FATAL" not in text:
                i += 1  # the quick test: every line this reporter reads says one of them
                continue
            if HEADER.match(text.strip()):
                start = i - 1 if i > 0 and RULE.match(lines[i - 1].text.strip()) else i
                crash, i = self._report(lines, start)
                out.append(crash)
                last_end = i
            elif m := RECURSIVE.match(text.strip()):
                end = i + 1 if i + 1 < len(lines) and END.match(lines[i + 1].text) else i
                out.append(self._recursive(lines, i, end, m.group("msg")))
                last_end = i = end
            elif (rec := _fatal_record(lines[i])) is not None:
                if last_end < 0 or i - last_end > RECORD_WINDOW:
                    out.append(self._record(lines[i], *rec))
            i += 1
        return out

    def _report(self, lines: Sequence[Line], start: int) -> tuple[Crash, int]:
        values: dict[str, str] = {}
        regs: dict[str, int] = {}
        frames: list[Frame] = []
        foreign = 0
        end = None
        section = ""
        i = start
        for i in range(start, min(len(lines), start + MAX_LINES)):
            ln = lines[i]
            if ln.doubled:
                continue
            raw = ln.text
            if i > start + 2 and (HEADER.match(raw.strip()) or RECURSIVE.match(raw.strip())):
                i -= 1  # the next panic begins: this one was cut off
                break
            if END.match(raw):
                end = i
                break
            if SECTION.match(raw):
                section = raw[:-1]
                continue
            if raw and not raw.startswith(" ") and not RULE.match(raw) and not HEADER.match(raw):
                foreign += 1  # the report's own lines are rules, headings or indented
                continue
            for key, rx in FIELDS.items():
                if key not in values and (m := rx.match(raw)):
                    values[key] = m.group(1).strip()
            if section == "REGISTER DUMP":
                regs.update((k, int(v, 16)) for k, v in REGISTER.findall(raw))
            if section == "STACK TRACE" and (m := FRAME.match(raw)):
                frames.append(_frame(int(m.group(2), 16), m.group(3)))
        last = end if end is not None else i
        span = lines[start : last + 1]
        reasons = []
        if foreign:
            reasons.append(f"interleaved with other output ({foreign} lines)")
        if end is None:
            reasons.append("truncated: no `System halted.`")
        if not frames:
            reasons.append("no stack trace")
        message = values.get("message", "")
        crash = Crash(
            type=CrashType.SIS_PANIC,
            title="",
            frames=frames,
            registers=regs,
            kernel_version=values.get("version", ""),
            corrupted=bool(reasons),
            corrupted_reason="; ".join(reasons),
            **span_of(span),
            os=self.os,
            arch="sis",
            message=message,
            fatal=True,
            format="panic",
            title_args={"msg": normalize_message(message) or "(no message)"},
        )
        return self.retitle(crash), last

    def _recursive(self, lines: Sequence[Line], i: int, end: int, msg: str) -> Crash:
        span = lines[i : end + 1]
        return self.retitle(
            Crash(
                type=CrashType.SIS_PANIC,
                title="",
                **span_of(span),
                os=self.os,
                arch="sis",
                message=msg,
                fatal=True,
                format="recursive",
                title_args={"msg": normalize_message(msg) or "(no message)"},
            )
        )

    def _record(self, line: Line, msg: str, location: str) -> Crash:
        frames = [_frame(None, location)] if location else []
        return self.retitle(
            Crash(
                type=CrashType.SIS_PANIC,
                title="",
                frames=frames,
                corrupted=True,
                corrupted_reason="no stack trace: only the FATAL log record of the panic",
                start_line=line.number,
                end_line=line.number,
                text=line.raw,
                os=self.os,
                arch="sis",
                message=msg,
                fatal=True,
                format="panic",
                title_args={"msg": normalize_message(msg) or "(no message)"},
            )
        )

    def retitle(self, crash: Crash) -> Crash:
        msg = crash.title_args.get("msg", "(no message)")
        if crash.format == "recursive":
            crash.frame = None
            crash.title = f"SIS recursive panic: {msg}"
            return crash
        crash.frame = guilty(crash.frames, SKIP)
        crash.title = f"SIS panic: {msg}" + (f" in {crash.frame}" if crash.frame else "")
        return crash


def _frame(address: int | None, symbol: str) -> Frame:
    m = SYMBOL.match(symbol)
    if m is None:  # `?`: an address the kernel could not name
        return Frame(address=address)
    return Frame(function=m.group("func"), offset=int(m.group("off"), 16), address=address)


def _fatal_record(line: Line) -> tuple[str, str] | None:
    """(message, location) of a FATAL `panic` log record, human or JSON."""
    m = FATAL_HUMAN.match(line.text)
    if m:
        loc = m.group("loc") or ""
        if loc.startswith('"'):
            loc = json.loads(loc)
        return m.group("msg"), (loc.split() or [""])[0]
    t = line.text.strip()
    if t.startswith("{") and '"FATAL"' in t:
        try:
            rec = json.loads(t)
        except ValueError:
            return None
        if (
            isinstance(rec, dict)
            and rec.get("level") == "FATAL"
            and rec.get("subsystem") == "panic"
        ):
            return str(rec.get("msg", "")), (str(rec.get("location", "")).split() or [""])[0]
    return None
