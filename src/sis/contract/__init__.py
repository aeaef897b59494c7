"""The SIS contract as data: what a SIS kernel shows from outside and both halves agree on.

The reference kernel (`sis.kernel`) and the lab (`sis.harness`) each import these modules and
nothing of each other. One concept a module: metric keys, the syscall table, chaos modes, the
console strings, the log format, the kernel's exit codes. Nothing here imports `sis.kernel` or
`sis.harness`."""
