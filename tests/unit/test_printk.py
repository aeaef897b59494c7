import json
import re

from sis.kernel.printk import Printk

HUMAN = re.compile(r"^\[\s*\d+\.\d{6}\] \[(FATAL|ERROR|WARN|INFO|DEBUG|TRACE)\] \w+: .+$")


def test_human_format():
    p = Printk()
    lines: list[str] = []
    p.sinks.append(lines.append)
    p.info("fs", "mounted", "root mounted", blocks=10)
    assert HUMAN.match(lines[0]) and lines[0].endswith("fs: root mounted blocks=10")


def test_json_format_is_valid_and_escaped():
    p = Printk(fmt="json")
    lines: list[str] = []
    p.sinks.append(lines.append)
    p.warn("net", "odd", 'quote " backslash \\ newline \n tab \t', path='/a"b')
    obj = json.loads(lines[0])
    assert obj["level"] == "WARN" and obj["subsystem"] == "net" and obj["status"] == "odd"
    assert isinstance(obj["ts"], int) and obj["seq"] == 1 and obj["path"] == '/a"b'
    assert "\n" not in lines[0]


def test_levels_filter_and_sequence():
    p = Printk(level="warn")
    p.info("a", "x")
    p.error("a", "y")
    p.set_level("debug")
    p.debug("a", "z")
    assert [r.event for r in p.ring] == ["y", "z"]
    assert [r.seq for r in p.ring] == [1, 2]


def test_quiet_keeps_only_errors_on_console_but_all_in_ring():
    p = Printk(quiet=True)
    lines: list[str] = []
    p.sinks.append(lines.append)
    p.info("a", "x")
    p.error("a", "y")
    assert len(lines) == 1 and "[ERROR]" in lines[0]
    assert len(p.ring) == 2


def test_dmesg_follows_the_current_format():
    p = Printk()
    p.info("k", "boot")
    assert HUMAN.match(p.dmesg()[0])
    p.format = "json"
    assert json.loads(p.dmesg()[0])["status"] == "boot"
