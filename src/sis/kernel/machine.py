"""The machine: devices that outlive a boot (serial ports, QMP monitor, the root disk, the NIC's
link state) and the power states around the kernel — boot, pause, reset, reboot, panic,
power-off. It hands devices to the kernel; what the kernel makes of them (file system, network
stack, chaos) is the boot sequence's work (`sis.kernel.boot`).

Exit status of the process: 0 after power-off, quit, or a reboot request under -no-reboot;
1 when the machine cannot start (bad disk image, socket in use); 3 after a panic under
-no-reboot; 128+N when ended by signal N.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from typing import Any

from sis.contract.exit_codes import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_PANIC,
    EXIT_SIGNAL_BASE,
    EXIT_STARTUP,
)
from sis.kernel.config import MachineConfig
from sis.kernel.drivers.block import FileBlockDevice, LoggedBlockDevice, MemoryBlockDevice
from sis.kernel.drivers.serial import SerialPort
from sis.kernel.drivers.timer import HostTimer, Timer
from sis.kernel.errno import KernelError
from sis.kernel.exec import Userland
from sis.kernel.kernel import Kernel
from sis.kernel.qmp import QMPError, QMPServer

MEMORY_ROOT_BLOCKS = 8192  # 32 MiB in-memory root device when no -drive is given


class StartupError(Exception):
    """The machine cannot start; the message is one line for the user."""


class Machine:
    def __init__(self, cfg: MachineConfig, userland: Userland | None = None) -> None:
        self.cfg = cfg
        self.userland = userland  # what the kernel can exec (sis.kernel.exec)
        self.name = cfg.name
        self.serials = [SerialPort(spec, f"ttyS{i}") for i, spec in enumerate(cfg.serials)]
        self.timer: Timer = HostTimer()
        self.qmp: QMPServer | None = None
        self.disk: Any = None
        self.kernel: Kernel | None = None
        self.panic_count = 0
        self.boot_count = 0
        self._status = "prelaunch"
        self._requests: asyncio.Queue[str] = asyncio.Queue()
        self._resume = asyncio.Event()
        self.exit_status = EXIT_OK
        self.nic_link: dict[str, bool] = {}

    # -- output paths ------------------------------------------------------------------------------
    def console_write(self, data: bytes) -> None:
        self.serials[0].write(data)

    def log_write(self, line: str) -> None:
        self.serials[-1].write(line.encode("utf-8", "replace") + b"\r\n")

    def panic_write(self, data: bytes) -> None:
        for port in self.serials:
            port.write(data)

    # -- devices the kernel finds at boot ----------------------------------------------------------
    def _open_disk(self) -> None:
        from sis.kernel.fs.filesystem import FileSystem

        if self.cfg.drive is None:
            self.disk = MemoryBlockDevice(MEMORY_ROOT_BLOCKS)
            FileSystem.format(self.disk)
            return
        path = self.cfg.drive.file
        try:
            self.disk = FileBlockDevice(path, read_only=self.cfg.drive.read_only)
            FileSystem.mount(self.disk)  # refuse a foreign or corrupt image before booting
            if self.cfg.drive.log:
                self.disk = LoggedBlockDevice(self.disk, self.cfg.drive.log)
        except KernelError as e:
            raise StartupError(f"{path}: {e.detail or e.errno.message}") from None

    def root_disk(self) -> Any:
        """The root block device (the -drive image, or a fresh in-memory one)."""
        return self.disk

    # -- power ---------------------------------------------------------------------------------------
    def request(self, action: str) -> None:
        """From the kernel or QMP: poweroff, reboot, reset, quit, panic."""
        self._requests.put_nowait(action)

    def on_panic(self, message: str) -> None:
        self._status = "guest-panicked"
        if self.qmp is not None:
            self.qmp.emit(
                "GUEST_PANICKED", {"action": "pause", "info": {"type": "sis", "message": message}}
            )
        self.request("panic")

    async def _boot(self) -> None:
        self.boot_count += 1
        self.timer.resume()  # a reset while paused starts a running machine
        self.kernel = Kernel(self, self.boot_count)
        self.kernel.sched.running.set()
        self._status = "running"
        try:
            await self.kernel.boot()
        except Exception as e:  # a kernel that cannot boot panics, as a real one does
            from sis.kernel.panic import handle_panic

            handle_panic(self.kernel, f"boot failed: {type(e).__name__}: {e}", exc=e, task=None)

    async def _shutdown_kernel(self) -> None:
        if self.kernel is not None:
            self.kernel.sched.halted = True
            await self.kernel.sched.stop()
            if self.kernel.net is not None:
                self.kernel.net.close()

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.request, f"signal:{int(sig)}")
        try:
            self._open_disk()
            for port in self.serials:
                await port.open()
            self.serials[0].on_input = self._console_input
            self.serials[0].on_quit = lambda: self.request("quit")
            if self.cfg.qmp is not None:
                from sis.kernel.qmp.commands import install

                self.qmp = QMPServer(self, log=self._qmp_log)
                install(self.qmp, self)
                await self.qmp.start(str(self.cfg.qmp))
        except (OSError, ValueError) as e:
            raise StartupError(str(e)) from None
        try:
            if self.cfg.start_paused:
                self._status = "prelaunch"
                await self._resume.wait()
            await self._boot()
            return await self._power_loop()
        finally:
            await self._shutdown_kernel()
            if self.qmp is not None:
                await self.qmp.close()
            for port in self.serials:
                await port.close()
            if self.disk is not None:
                self.disk.close()

    async def _power_loop(self) -> int:
        reboot_timer: asyncio.TimerHandle | None = None
        while True:
            action = await self._requests.get()
            if action.startswith("signal:"):
                signum = int(action.split(":")[1])
                print(f"sis kernel: terminating on signal {signum}", file=sys.stderr)
                return EXIT_SIGNAL_BASE + signum
            if action == "quit":
                self._emit("SHUTDOWN", {"guest": False, "reason": "host-qmp-quit"})
                return EXIT_OK
            if action == "poweroff":
                self._status = "shutdown"
                self._emit("SHUTDOWN", {"guest": True, "reason": "guest-shutdown"})
                return EXIT_OK
            if action == "panic":
                if self.cfg.no_reboot:
                    self._emit("SHUTDOWN", {"guest": True, "reason": "guest-panic"})
                    return EXIT_PANIC
                if self.cfg.panic_timeout > 0 and reboot_timer is None:
                    msg = f"Rebooting in {self.cfg.panic_timeout} seconds..\r\n"
                    self.panic_write(msg.encode())
                    reboot_timer = asyncio.get_running_loop().call_later(
                        self.cfg.panic_timeout, self.request, "panic-reboot"
                    )
                continue
            if action in ("reboot", "reset", "panic-reboot"):
                if action == "reboot" and self.cfg.no_reboot:
                    self._emit("SHUTDOWN", {"guest": True, "reason": "guest-reset"})
                    return EXIT_OK
                if reboot_timer is not None:
                    reboot_timer.cancel()
                    reboot_timer = None
                reason = {
                    "reboot": "guest-reset",
                    "reset": "host-qmp-system-reset",
                    "panic-reboot": "guest-panic",
                }[action]
                self._emit("RESET", {"guest": action != "reset", "reason": reason})
                await self._shutdown_kernel()
                await self._boot()

    def _emit(self, event: str, data: dict) -> None:
        if self.qmp is not None:
            self.qmp.emit(event, data)

    def _console_input(self, data: bytes) -> None:
        k = self.kernel
        if k is None or k.sched.halted:
            return
        try:
            k.tty.receive(data)
        except Exception as e:  # a bug in the TTY is a kernel bug
            with contextlib.suppress(BaseException):
                k.panic(f"unhandled {type(e).__name__} in tty input: {e}", exc=e)

    def _qmp_log(self, level: str, event: str, fields: dict) -> None:
        if self.kernel is not None:
            # Monitor chatter (connects, commands) is debug; trouble stays visible.
            level = level if level in ("ERROR", "WARN") else "DEBUG"
            self.kernel.printk.log(level, "qmp", event, **fields)

    # -- MachineControl (QMP) ------------------------------------------------------------------------
    def status(self) -> str:
        return self._status

    def running(self) -> bool:
        return self._status == "running"

    def stop(self) -> None:
        if self._status == "running" and self.kernel is not None:
            self.kernel.sched.running.clear()
            self.timer.pause()
            self._status = "paused"
            self._emit("STOP", {})

    def cont(self) -> None:
        if self._status == "prelaunch":
            self._resume.set()
            self._status = "running"
            self._emit("RESUME", {})
        elif self._status == "paused" and self.kernel is not None:
            self.timer.resume()
            self.kernel.sched.running.set()
            self._status = "running"
            self._emit("RESUME", {})
        elif self._status == "guest-panicked":
            raise QMPError("the guest has panicked: reset it (system_reset) to continue")

    def system_reset(self) -> None:
        self.request("reset")

    def system_powerdown(self) -> None:
        self._emit("POWERDOWN", {})
        k = self.kernel
        if k is not None and not k.sched.halted:
            k.power("poweroff")
        else:
            self.request("poweroff")

    def quit(self) -> None:
        self.request("quit")

    def set_link(self, name: str, up: bool) -> None:
        k = self.kernel
        if k is None or k.net is None:
            raise KeyError(name)
        k.net.set_link(name, up)

    def registers(self) -> dict[str, int]:
        k = self.kernel
        if k is None:
            return {}
        task = k.sched.current or next((t for t in k.sched.tasks.values() if t.name == "sh"), None)
        return task.regs.as_dict() if task is not None else {}

    def version(self) -> tuple[int, int, int]:
        import sis

        major, minor, micro = (int(x) for x in sis.__version__.split(".")[:3])
        return major, minor, micro


def run_machine(cfg: MachineConfig, userland: Userland | None = None) -> int:
    """Run a machine until it powers off; returns the process exit status."""
    try:
        return asyncio.run(Machine(cfg, userland).run())
    except StartupError as e:
        print(f"sis kernel: {e}", file=sys.stderr)
        return EXIT_STARTUP
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
