"""Locust performance gates: scenarios, load shapes, seeding, the threshold gate and its report."""
