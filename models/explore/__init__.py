"""Explore/exploit (paper §7): the last-layer posterior and the policies that sample from it."""
