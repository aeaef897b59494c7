"""The syscall layer: numbered calls (Linux AArch64 numbers), arguments in registers,
validated before any handler runs."""
