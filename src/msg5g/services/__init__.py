"""Use cases. Framework-free: the gateway, admin and CLI call these; they call storage and channels."""
