"""The SIS reference kernel: a simulated kernel that looks like a QEMU guest from outside."""
