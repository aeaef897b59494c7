"""Syscall fuzzing (modelled on syzkaller): descriptions as data (`sis.contract.syscall_args`),
programs generated and mutated from them (generate, program), executor channels (channel:
the reference kernel's `x-sis-syscall` over QMP),
corpus with coverage feedback (`x-sis-kcov`), crash naming and dedup (crash), minimized
reproducers (minimize, replay), stats in the Prometheus format (stats), the loop (fuzzer) and
its live progress (progress); the executor in a real guest over virtio-serial (guest_channel);
plus the differential validation suite (cases: the data, validate: the runner and its table)."""
