"""Parsers for metrics text: JSON snapshots, key=value lines, Prometheus text and /proc.
Bad input is reported line by line and never raises."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sis.harness.metrics.collect import PROC_COMMAND, parse_proc
from sis.harness.metrics.parse import (
    parse_json_metrics,
    parse_prometheus_text,
    parse_simple_metrics,
)

# `PROC_COMMAND` on the linux-busybox guest (Debian 6.1 kernel, QEMU q35, after a ping and a
# read of /dev/vda), as the console returned it: no final newline.
PROC_CAPTURE = """\
MemTotal:         210492 kB
MemFree:          180980 kB
MemAvailable:     184316 kB
Buffers:               0 kB
Cached:             2720 kB
SwapCached:            0 kB
Active:             2684 kB
Inactive:            204 kB
Active(anon):       2684 kB
Inactive(anon):      204 kB
Active(file):          0 kB
Inactive(file):        0 kB
Unevictable:           0 kB
Mlocked:               0 kB
SwapTotal:             0 kB
SwapFree:              0 kB
Zswap:                 0 kB
Zswapped:              0 kB
Dirty:                 0 kB
Writeback:             0 kB
AnonPages:           188 kB
Mapped:             1684 kB
Shmem:              2720 kB
KReclaimable:       8968 kB
Slab:              16588 kB
SReclaimable:       8968 kB
SUnreclaim:         7620 kB
KernelStack:         912 kB
PageTables:           60 kB
SecPageTables:         0 kB
NFS_Unstable:          0 kB
Bounce:                0 kB
WritebackTmp:          0 kB
CommitLimit:      105244 kB
Committed_AS:       4064 kB
VmallocTotal:   34359738367 kB
VmallocUsed:        6120 kB
VmallocChunk:          0 kB
Percpu:              520 kB
HardwareCorrupted:     0 kB
AnonHugePages:         0 kB
ShmemHugePages:        0 kB
ShmemPmdMapped:        0 kB
FileHugePages:         0 kB
FilePmdMapped:         0 kB
HugePages_Total:       0
HugePages_Free:        0
HugePages_Rsvd:        0
HugePages_Surp:        0
Hugepagesize:       2048 kB
Hugetlb:               0 kB
DirectMap4k:       30580 kB
DirectMap2M:      231424 kB
DirectMap1G:           0 kB
cpu  7 0 222 359 0 0 4 0 0 0
cpu0 2 0 142 160 0 0 2 0 0 0
cpu1 5 0 80 198 0 0 2 0 0 0
intr 2100 81 9 0 2 303 0 0 0 1 0 0 0 3 0 0 0 0 0 0 0 0 0 0 0 0 3 2 0 3 4 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
ctxt 1555
btime 1795731727
processes 106
procs_running 1
procs_blocked 0
softirq 1033 0 150 0 9 0 0 1 448 0 425
Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:       0       0    0    0    0     0          0         0        0       0    0    0    0     0       0          0
  eth0:     260       3    0    0    0     0          0         0      328       4    0    0    0     0       0          0
 254       0 vda 5 0 120 4 0 0 0 0 0 0 4 0 0 0 0 0 0
3.60 3.60"""


def test_proc_capture_maps_to_the_shared_names():
    parsed = parse_proc(PROC_CAPTURE)
    assert parsed.ok, parsed.summary()
    v = parsed.values
    assert PROC_COMMAND.startswith("cat /proc/meminfo ")
    assert v["uptime_seconds"] == 3
    assert v["mem_total_bytes"] == 210492 * 1024 and v["mem_slab_bytes"] == 16588 * 1024
    assert v["mem_slab_unreclaimable_bytes"] == 7620 * 1024
    assert v["ctx_switches"] > 0 and v["forks"] > 0 and v["interrupts"] == 2100
    # lo and eth0 summed, as the SIS kernel sums its interfaces.
    assert (v["net_rx_bytes"], v["net_rx_packets"]) == (260, 3)
    assert (v["net_tx_bytes"], v["net_tx_packets"]) == (328, 4)
    assert (v["disk_read_ops"], v["disk_read_bytes"], v["disk_write_ops"]) == (5, 120 * 512, 0)
    assert all(type(x) is int for x in v.values())
    assert "heap_allocs" not in v  # no /proc twin with the same meaning


def test_proc_counts_whole_disks_once():
    text = (
        "   7       0 loop0 100 0 800 0 0 0 0 0 0 0 0 0 0\n"
        " 254       0 vda 10 0 80 1 20 0 160 2 0 3 3 0 0 0 0 4 0\n"
        " 254       1 vda1 9 0 72 1 19 0 152 2 0 3 3 0 0 0 0 0 0\n"
        " 259       0 nvme0n1 1 0 8 0 2 0 16 0 0 0 0\n"
        " 259       1 nvme0n1p1 1 0 8 0 2 0 16 0 0 0 0\n"
    )
    v = parse_proc(text).values
    assert v["disk_read_ops"] == 11 and v["disk_write_ops"] == 22
    assert v["disk_write_bytes"] == (160 + 16) * 512 and v["disk_flushes"] == 4


def test_proc_reports_foreign_lines_with_their_numbers():
    parsed = parse_proc("ctxt 5\nsh: cat: not found\nprocesses x\n")
    assert parsed.values == {"ctx_switches": 5}
    assert [p.line for p in parsed.problems] == [2, 3]
    assert "not a line of" in str(parsed.problems[0])


def test_json_snapshot():
    good = parse_json_metrics('{"a": 1, "b": 2}\n')
    assert good.ok and good.values == {"a": 1, "b": 2}


@pytest.mark.parametrize(
    "text,line,message",
    [
        ('{"a": 1,}', 1, "not JSON"),
        ("\n\n[1, 2]", 3, "expected a JSON object"),
        ('{"a": "1"}', 1, "expected an integer"),
        ('{"a": true}', 1, "expected an integer"),
        ('{"a": 1.5}', 1, "expected an integer"),
        ('[ 1.0] [INFO] fs: x\n{"a": 1}', 1, "not JSON"),
        ('{"a": 1}\nsis> ', 2, "more output"),
        ("", 0, "no JSON object"),
    ],
)
def test_json_problems_have_line_numbers(text, line, message):
    parsed = parse_json_metrics(text)
    assert not parsed.ok
    assert parsed.problems[0].line == line and message in parsed.problems[0].message


def test_simple_lines():
    parsed = parse_simple_metrics("a=1\nb=2\n\nc=x\nnot a pair\na=3\n")
    assert parsed.values == {"a": 3, "b": 2}
    assert [(p.line, p.message.split(":")[0]) for p in parsed.problems] == [
        (4, "c"),
        (5, "expected key=value"),
        (6, "a"),
    ]


GOOD_PROM = """\
# HELP x_total Things.
# TYPE x_total counter
x_total{kind="a\\"b",z="1"} 3
# HELP h_seconds Latency.
# TYPE h_seconds histogram
h_seconds_bucket{le="0.1"} 1
h_seconds_bucket{le="+Inf"} 2
h_seconds_sum 0.25
h_seconds_count 2
# a plain comment
g -Inf 1700000000000
"""


def test_prometheus_text_good():
    parsed = parse_prometheus_text(GOOD_PROM)
    assert parsed.ok, [str(p) for p in parsed.problems]
    assert parsed.types == {"x_total": "counter", "h_seconds": "histogram"}
    assert parsed.value("x_total", kind='a"b') == 3
    assert parsed.value("h_seconds_bucket", le="+Inf") == 2
    assert parsed.value("g") == float("-inf")


@pytest.mark.parametrize(
    "bad,message",
    [
        ("9x 1", "must start with a metric name"),
        ("x{a=1} 2", 'expected ="'),
        ('x{a="1} 2', "unterminated"),
        ('x{a="\\q"} 2', "bad escape"),
        ('x{a="1",a="2"} 2', "given twice"),
        ("x", "expected: name{labels} value"),
        ("x one", "bad value"),
        ("x 1 2 3", "expected: name{labels} value"),
        ("x 1 1.5", "bad timestamp"),
        ("# TYPE x_total widget", "unknown type"),
        ("# TYPE x_total gauge", "second TYPE"),
        ("# HELP", "without a valid metric name"),
        ("x_total 4", "duplicate series"),
        ("h_seconds_bucket 1", "without an le label"),
        ("h_seconds_total 1", "does not fit h_seconds"),
    ],
)
def test_prometheus_problems_have_line_numbers(bad, message):
    text = GOOD_PROM.replace("# a plain comment", bad)
    if bad == "x_total 4":
        text = GOOD_PROM.replace('x_total{kind="a\\"b",z="1"} 3', "x_total 3") + bad + "\n"
    parsed = parse_prometheus_text(text)
    lines = text.splitlines()
    assert parsed.problems, bad
    p = parsed.problems[0]
    assert message in p.message, str(p)
    assert lines[p.line - 1].strip() == bad.strip()


def test_type_after_samples_and_missing_final_newline():
    parsed = parse_prometheus_text("y 1\n# TYPE y gauge\ny 2")
    messages = [str(p) for p in parsed.problems]
    assert any("text: the text does not end with a newline" in m for m in messages)
    assert any(m.startswith("line 2: TYPE for y after its samples") for m in messages)


@settings(max_examples=300, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from(list('ab_{}="\\,# \n01.+-eInfTYPEHLPcountergauge')), max_size=200
    )
)
def test_prometheus_parser_never_raises(text):
    parsed = parse_prometheus_text(text)
    for p in parsed.problems:
        assert p.line >= 0 and str(p)


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.text(max_size=200),
        st.dictionaries(
            st.text(max_size=5),
            st.one_of(st.integers(), st.floats(), st.text(max_size=3), st.booleans(), st.none()),
        ).map(json.dumps),
    )
)
def test_json_and_simple_and_proc_parsers_never_raise(text):
    for parse in (parse_json_metrics, parse_simple_metrics, parse_proc):
        parsed = parse(text)
        assert all(type(v) is int for v in parsed.values.values())
        assert all(str(p) for p in parsed.problems)
