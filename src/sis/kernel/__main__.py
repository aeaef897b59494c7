"""`sis kernel` / `python -m sis.kernel`: the QEMU-style command line of the reference kernel.

Exit status: 0 after a power-off (or a reboot request under -no-reboot), 1 for a bad command
line or an unusable disk image, 3 after a kernel panic under -no-reboot, 130 on SIGINT.
"""

from __future__ import annotations

import sys
from dataclasses import replace

from sis.kernel.config import (
    KNOWN_FEATURES,
    ConfigError,
    MachineConfig,
    NicSpec,
    matching_preset,
    parse_append,
    parse_chardev,
    parse_drive,
    parse_kv,
    parse_size,
)

USAGE = """\
usage: sis kernel [options]
  -m SIZE              memory (default 256M); the kernel heap is carved from it
  -smp N               CPUs (default 2)
  -drive file=PATH[,readonly=on][,log=LOG]   root disk image (sis disk create PATH --size 64M);
                       log: every write and flush recorded to LOG (dm-log-writes format);
                       a comma in a path is written ,, as in QEMU
  -nic none|user|hub,port=N        network: none, one NIC (default), or a local hub port
  -serial DEV          stdio (default), unix:PATH or tcp:HOST:PORT; a second -serial gets the log
  -qmp DEV             QMP monitor: unix:PATH or tcp:HOST:PORT
  -append "k=v ..."    log=json|human loglevel=LEVEL quiet panic=SECONDS
                       sis.bug=NAME[,NAME...]  planted bugs (docs/contract.md section 9)
                       sis.bug_seed=N          where their triggers sit (default 0)
  -features LIST       optional features, comma separated: chaos
  -no-reboot           exit instead of rebooting (after reboot or panic)
  -S                   start paused until QMP cont
  -name NAME           machine name shown in logs and QMP
  symbols              print the kernel symbol map and exit
"""

_TAKES_VALUE = {
    "-m",
    "-smp",
    "-drive",
    "-nic",
    "-serial",
    "-qmp",
    "-append",
    "-features",
    "-name",
    "-display",
    "-monitor",
}
_FLAGS = {"-no-reboot", "-S", "-nographic"}


def parse_command_line(argv: list[str]) -> MachineConfig:
    cfg = MachineConfig()
    serials: list = []
    i = 0
    while i < len(argv):
        opt = argv[i]
        if opt.startswith("--") and len(opt) > 2:
            opt = opt[1:]  # QEMU accepts --opt as -opt
        if opt in _FLAGS:
            if opt == "-no-reboot":
                cfg = replace(cfg, no_reboot=True)
            elif opt == "-S":
                cfg = replace(cfg, start_paused=True)
            i += 1
            continue
        if opt not in _TAKES_VALUE:
            raise ConfigError(f"unknown option {argv[i]!r} (see sis kernel -h)")
        if i + 1 >= len(argv):
            raise ConfigError(f"option {opt} needs a value")
        value = argv[i + 1]
        i += 2
        if opt == "-m":
            mem = parse_size(value.split(",")[0].removeprefix("size="))
            if mem < 16 << 20:
                raise ConfigError(f"-m {value}: at least 16M of memory is needed")
            if mem > 64 << 30:
                raise ConfigError(f"-m {value}: at most 64G is supported")
            cfg = replace(cfg, memory_bytes=mem)
        elif opt == "-smp":
            n = value.split(",")[0].removeprefix("cpus=")
            if not n.isdigit() or not 1 <= int(n) <= 64:
                raise ConfigError(f"-smp {value}: expected a CPU count from 1 to 64")
            cfg = replace(cfg, cpus=int(n))
        elif opt == "-drive":
            cfg = replace(cfg, drive=parse_drive(value))
        elif opt == "-nic":
            kv = parse_kv(value)
            kind = kv.get("kind", "")
            if kind in ("none", "user"):
                cfg = replace(cfg, nic=NicSpec(kind))
            elif kind == "hub":
                port = kv.get("port", "0")
                if not port.isdigit() or not 0 <= int(port) <= 65535:
                    raise ConfigError(f"-nic {value}: port must be a number 0..65535")
                cfg = replace(cfg, nic=NicSpec("hub", port=int(port)))
            else:
                raise ConfigError(f"-nic {value}: expected none, user or hub,port=N")
        elif opt == "-serial":
            if len(serials) >= 2:
                raise ConfigError("-serial given more than twice (console and log only)")
            serials.append(parse_chardev(value, "-serial"))
        elif opt == "-qmp":
            spec = parse_chardev(value, "-qmp")
            if spec.kind not in ("unix", "tcp"):
                raise ConfigError(f"-qmp {value}: expected unix:PATH or tcp:HOST:PORT")
            cfg = replace(cfg, qmp=spec)
        elif opt == "-append":
            cfg = replace(cfg, cmdline=parse_append(value))
        elif opt == "-features":
            feats = frozenset(f for f in value.split(",") if f)
            unknown = feats - KNOWN_FEATURES
            if unknown:
                raise ConfigError(
                    f"-features: unknown feature {sorted(unknown)[0]!r} (known: {', '.join(sorted(KNOWN_FEATURES))})"
                )
            cfg = replace(cfg, features=feats)
        elif opt == "-name":
            cfg = replace(cfg, name=value.split(",")[0].removeprefix("guest="))
        # -display and -monitor are accepted for QEMU compatibility and ignored.
    if serials:
        cfg = replace(cfg, serials=tuple(serials))
    if sum(1 for s in cfg.serials if s.kind == "stdio") > 1:
        raise ConfigError("-serial stdio given twice: only one port can use stdio")
    return replace(cfg, preset=matching_preset(cfg))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] in (["-h"], ["-help"], ["--help"]):
        sys.stdout.write(USAGE)
        return 0
    if argv[:1] == ["symbols"]:
        # Imported here, like the machine below, so that -h and a bad option answer at once
        # without loading the whole kernel.
        from sis.kernel.symbols import format_symbol_map

        sys.stdout.write(format_symbol_map())
        return 0
    try:
        cfg = parse_command_line(argv)
    except ConfigError as e:
        print(f"sis kernel: {e}", file=sys.stderr)
        return 1
    # Assembling the system: the machine gets user space (init, the shell, /bin) to boot.
    # Imported only now: start-up speed for -h and bad options.
    from sis.kernel.machine import run_machine
    from sis.kernel.shell import userland

    return run_machine(cfg, userland())


if __name__ == "__main__":
    sys.exit(main())
