"""The lab: drives any target through its console, QMP monitor and disks, and reports."""
