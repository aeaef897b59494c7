import pytest

from sis.kernel.__main__ import parse_command_line
from sis.kernel.config import PRESET_ARGS, ConfigError, NicSpec, parse_size


def test_defaults_are_the_default_preset():
    cfg = parse_command_line([])
    assert cfg.memory_bytes == 256 << 20 and cfg.cpus == 2
    assert cfg.nic == NicSpec("user") and cfg.serials[0].kind == "stdio"


@pytest.mark.parametrize("preset", sorted(PRESET_ARGS))
def test_presets_parse(preset):
    parse_command_line(PRESET_ARGS[preset])


def test_every_option():
    cfg = parse_command_line(
        [
            "-m",
            "128M",
            "-smp",
            "1",
            "-drive",
            "file=/tmp/d.img,readonly=on",
            "-nic",
            "hub,port=7",
            "-serial",
            "unix:/tmp/c.sock",
            "-serial",
            "tcp:127.0.0.1:4444",
            "-qmp",
            "unix:/tmp/q.sock",
            "-append",
            "log=json loglevel=debug quiet panic=5",
            "-features",
            "chaos",
            "-no-reboot",
            "-S",
            "-name",
            "vm1",
        ]
    )
    assert cfg.memory_bytes == 128 << 20 and cfg.cpus == 1
    assert cfg.drive.file == "/tmp/d.img" and cfg.drive.read_only
    assert cfg.nic == NicSpec("hub", 7)
    assert [str(s) for s in cfg.serials] == ["unix:/tmp/c.sock", "tcp:127.0.0.1:4444"]
    assert str(cfg.qmp) == "unix:/tmp/q.sock"
    assert (cfg.log_format, cfg.log_level, cfg.quiet, cfg.panic_timeout) == (
        "json",
        "debug",
        True,
        5,
    )
    assert cfg.features == {"chaos"} and cfg.no_reboot and cfg.start_paused and cfg.name == "vm1"


@pytest.mark.parametrize(
    "argv, words",
    [
        (["-bogus"], "unknown option"),
        (["-m"], "needs a value"),
        (["-m", "lots"], "invalid size"),
        (["-m", "1M"], "at least 16M"),
        (["-smp", "0"], "CPU count"),
        (["-drive", "format=raw"], "file=PATH"),
        (["-drive", "file=x.qcow2,format=qcow2"], "format=raw"),
        (["-nic", "tap"], "none, user or hub"),
        (["-serial", "pty"], "unsupported device"),
        (["-serial", "tcp:localhost"], "HOST:PORT"),
        (["-qmp", "stdio"], "unix:PATH or tcp"),
        (["-append", "log=xml"], "json or human"),
        (["-append", "loglevel=loud"], "loglevel"),
        (["-append", "panic=soon"], "seconds"),
        (["-features", "turbo"], "unknown feature"),
        (["-serial", "stdio", "-serial", "stdio"], "stdio"),
    ],
)
def test_bad_options_give_one_clear_line(argv, words):
    with pytest.raises(ConfigError) as e:
        parse_command_line(argv)
    assert words in str(e.value) and "\n" not in str(e.value)


def test_sizes():
    assert parse_size("256M") == 256 << 20
    assert parse_size("1G") == 1 << 30
    assert parse_size("64MiB") == 64 << 20
    assert parse_size("512") == 512 << 20  # QEMU: plain numbers are MiB
    assert parse_size("4096", default_unit="B") == 4096


def test_drive_log_names_the_write_log():
    cfg = parse_command_line(["-drive", "file=/tmp/d.img,log=/tmp/d.log"])
    assert cfg.drive.file == "/tmp/d.img" and cfg.drive.log == "/tmp/d.log"
    assert parse_command_line(["-drive", "file=/tmp/d.img"]).drive.log is None
