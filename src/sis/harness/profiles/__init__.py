"""Target profiles shipped with SIS: YAML data describing how to boot and drive a kernel."""
