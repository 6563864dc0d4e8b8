"""Carrier simulators: real HTTP servers that play a carrier side of the wire, for adapter tests."""
