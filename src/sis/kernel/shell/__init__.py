"""User space: the C library, the shell and the programs of /bin. Everything here reaches
the kernel only through syscalls, like user programs on a real system."""
