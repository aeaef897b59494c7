"""Chaos experiments: steady state, faults at the kernel and the VMM, nothing acknowledged
lost, one timeline per experiment (experiment, injectors, workload, runner, timeline, report,
and `plan` for `sis chaos run` and the `chaos` phase)."""
