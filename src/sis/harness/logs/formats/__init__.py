"""The kernel log dialects SIS reads, one module each, and the record they all parse into.

* `sis_human`: the SIS kernel's human format (docs/contract.md section 4).
* `sis_json`: the SIS kernel's JSON format, one object a line (section 4).
* `linux_printk`: Linux printk lines as a console or ``dmesg`` prints them.
* `record`: `LogRecord`, the levels and the timestamp the dialects share.

Each dialect knows how one record of its own looks; finding records in a damaged stream and
choosing the dialect of each is `sis.harness.logs.parse`.
"""

from sis.harness.logs.formats.linux_printk import FORMAT as FORMAT_LINUX
from sis.harness.logs.formats.linux_printk import LINUX_LEVELS
from sis.harness.logs.formats.record import SIS_LEVELS, LogRecord
from sis.harness.logs.formats.sis_human import FORMAT as FORMAT_HUMAN
from sis.harness.logs.formats.sis_human import human_value
from sis.harness.logs.formats.sis_json import FORMAT as FORMAT_JSON

__all__ = [
    "FORMAT_HUMAN",
    "FORMAT_JSON",
    "FORMAT_LINUX",
    "LINUX_LEVELS",
    "SIS_LEVELS",
    "LogRecord",
    "human_value",
]
