"""Device traits and their implementations: block, network, timer, rng, console."""
