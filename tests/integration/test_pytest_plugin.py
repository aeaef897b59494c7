"""Teams write pytest tests against their kernel with the SIS fixtures."""


def test_fixtures_drive_a_booted_kernel(pytester):
    pytester.makepyfile(
        """
        def test_shell(sis_shell):
            r = sis_shell.run("echo hi")
            assert (r.output, r.status) == ("hi", 0)

        def test_qmp(sis_qmp):
            assert sis_qmp.execute("query-status")["status"] == "running"

        def test_crash_then_next_test_gets_a_fresh_kernel(sis_target):
            sis_target.console.sendline("panic on purpose")
            sis_target.target.proc.wait(10)

        def test_after_the_crash(sis_shell):
            assert sis_shell.run("uptime").status == 0

        def test_wrong_expectation_fails(sis_shell):
            assert sis_shell.run("echo one").output == "two"
        """
    )
    result = pytester.runpytest_subprocess(
        "--sis-target", "sim", "--sis-preset", "smp-off", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=4, failed=1)
