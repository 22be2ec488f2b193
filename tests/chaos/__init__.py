"""Crash tests: the whole stack as separate processes, killed and cut off while orders flow."""
