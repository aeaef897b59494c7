"""What each command plans: its arguments turned into jobs for the one door
(`sis.harness.plan`). One module a command; they sit above the phases and the readiness
packages (chaos, soak, fuzz, logs), which never import them.

    check     target x preset jobs running the phases asked for
    chaos     one job per target and preset running the experiments; chaos.html
    soak      one job per target; soak-report.html, --resume continues the series
    fuzz      rounds of N jobs, the corpus and crashes merged between rounds; fuzz.html
    logs      one job that captures a boot's kernel log, for baselines
    selftest  one job per cell of the detection matrix; matrix.json
"""
