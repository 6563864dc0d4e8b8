"""The gateway: the single HTTP entry point for business callers and carrier callbacks. Thin."""
