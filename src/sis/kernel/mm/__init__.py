"""Memory management: the kernel heap and user address spaces."""
