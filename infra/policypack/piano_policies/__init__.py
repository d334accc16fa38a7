"""Policy-as-code for the piano platform: plain validators plus their CrossGuard wiring."""
