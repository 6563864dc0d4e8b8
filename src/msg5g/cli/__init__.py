"""The `msg5g` command."""
