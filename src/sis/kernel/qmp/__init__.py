"""The QMP monitor: addresses and listening (address), JSON framing (framing), the protocol
server (server), the human monitor (hmp) and SIS's own x-sis-* commands (commands)."""

from sis.kernel.qmp.address import AddressError, TcpAddress, UnixAddress, parse_address
from sis.kernel.qmp.errors import QMPError
from sis.kernel.qmp.hmp import format_registers
from sis.kernel.qmp.server import MachineControl, QMPServer

__all__ = [
    "AddressError",
    "MachineControl",
    "QMPError",
    "QMPServer",
    "TcpAddress",
    "UnixAddress",
    "format_registers",
    "parse_address",
]
