"""The network stack: Ethernet-like frames, ARP, IPv4, ICMP echo and UDP over the NICs of
drivers/nic.py, with interfaces `lo` (127.0.0.1/8) and `eth0`.

Addresses of `eth0`:
* `-nic user`: 10.0.2.15/24, gateway 10.0.2.2 (answers ping and UDP echo), as under QEMU;
* `-nic hub,port=N`: 10.0.<N % 256>.<2..254>/24, a host number derived from the MAC and
  probed with ARP at boot so that every kernel on the hub holds a different one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sis.contract.bugs import NET_WEDGE
from sis.kernel import bugs
from sis.kernel.drivers.nic import HubNic, LoopbackNic, VirtualNic, Wire, format_mac, make_mac
from sis.kernel.errno import Errno, KernelError
from sis.kernel.net import ipv4, slirp
from sis.kernel.net.arp import AddressProbe, host_candidates
from sis.kernel.net.stack import Interface, NetStack

if TYPE_CHECKING:
    from sis.kernel.config import NicSpec
    from sis.kernel.kernel import Kernel

__all__ = ["Interface", "NetStack", "hub_network", "setup_network"]


def hub_network(port: int) -> int:
    """The /24 of a hub port: 10.0.<port % 256>.0."""
    return ipv4.aton(f"10.0.{port % 256}.0")


def setup_network(k: Kernel, spec: NicSpec, links: dict[str, bool]) -> NetStack:
    """Bring up `lo` and, unless `spec.kind` is "none", `eth0`. `links` holds the QMP link
    state by interface name; it outlives the boot so that a link set down stays down."""

    def on_bug(message: str, exc: BaseException) -> None:
        try:
            k.panic(message, exc=exc)
        except BaseException:  # noqa: BLE001 - panic() halts by raising; the event loop goes on
            pass

    stack = NetStack(k.heap, k.printk, on_bug=on_bug)
    stack.links = links
    stack.add_interface(
        "lo", LoopbackNic(), network=ipv4.aton("127.0.0.0"), prefix=8, addr=ipv4.LOOPBACK
    )
    if spec.kind == "none":
        return stack
    if spec.kind == "user":
        wire = Wire()
        nic = VirtualNic(make_mac(), wire)
        gateway = slirp.SlirpGateway(wire)
        stack.on_close(gateway.close)
        _attach(
            k, stack, "eth0", nic, links, f"user-mode network, gateway {ipv4.ntoa(slirp.GATEWAY)}"
        )
        iface = stack.interfaces["eth0"]
        iface.network, iface.prefix, iface.gateway = slirp.NETWORK, slirp.PREFIX, slirp.GATEWAY
        stack.assign(iface, slirp.GUEST)
        return stack
    if spec.kind == "hub":
        port = spec.port or 0
        try:
            nic = _hub_nic(port)
        except KernelError as e:
            # No NIC is better than no kernel: boot on with `lo` only and say why.
            k.printk.error(
                "net",
                "nic_failed",
                f"eth0: cannot join hub port {port}: {e.detail or e.errno.message}",
                iface="eth0",
                port=port,
                errno=e.errno.name,
            )
            return stack
        _attach(k, stack, "eth0", nic, links, f"hub port {port} ({nic.directory})")
        iface = stack.interfaces["eth0"]
        iface.network, iface.prefix = hub_network(port), 24
        stack.start_probe(
            iface, AddressProbe(stack, iface, host_candidates(nic.mac, iface.network))
        )
        return stack
    raise KernelError(Errno.EINVAL, f"unknown NIC kind {spec.kind!r}")


def _hub_nic(port: int) -> HubNic:
    # A MAC already bound on the port by a live kernel (vanishingly rare): take the next one.
    for index in range(8):
        try:
            return HubNic(port, make_mac(index))
        except KernelError as e:
            if e.errno is not Errno.EADDRINUSE:
                raise
    raise KernelError(Errno.EADDRINUSE, f"no free MAC on hub port {port}")


def _attach(
    k: Kernel,
    stack: NetStack,
    name: str,
    nic: VirtualNic | HubNic,
    links: dict[str, bool],
    what: str,
) -> None:
    stack.add_interface(name, nic)

    def chaos_at_send(nic: object, frame: bytes) -> None:
        # Looked up per send: the chaos engine attaches after the network at boot.
        if k.chaos is not None:
            k.chaos.at_nic_send()  # raises KernelError(ENETDOWN) when it strikes

    nic.fail_hook = chaos_at_send
    if NET_WEDGE in k.bugs:
        nic.on_send_error = bugs.nic_send_error_handler(k)
    up = links.get(name, True)
    nic.set_link(up)
    stack.log_info(
        "nic_attached",
        f"{name}: {what}, mac {format_mac(nic.mac)}",
        iface=name,
        mac=format_mac(nic.mac),
        kind=nic.kind,
    )
    stack.log_info(
        "link_up" if up else "link_down", f"{name}: link {'up' if up else 'down'}", iface=name
    )
