"""Pulumi components that stand up one environment of the piano platform."""
