"""Helpers shared by the test suite: local fakes of remote services (no network)."""
