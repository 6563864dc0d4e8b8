"""Where material files live: a folder under the data directory by default, behind a small
interface so that an object store can take its place."""

from __future__ import annotations

import abc
import asyncio
import os
import tempfile
from pathlib import Path


class FileStore(abc.ABC):
    @abc.abstractmethod
    async def put(self, key: str, data: bytes) -> None: ...

    @abc.abstractmethod
    async def get(self, key: str) -> bytes:
        """Raises FileNotFoundError."""

    @abc.abstractmethod
    async def delete(self, key: str) -> None:
        """Removes the file; a missing one is not an error."""


class LocalFileStore(FileStore):
    """Keys are relative paths (`{tenant}/{material}/file.jpg`); writes are atomic (a temporary file
    renamed into place), so a crash never leaves half a file under a key."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError(f"key {key!r} leaves the store")
        return path

    async def put(self, key: str, data: bytes) -> None:
        await asyncio.to_thread(self._write, self._path(key), data)

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    async def get(self, key: str) -> bytes:
        return await asyncio.to_thread(self._path(key).read_bytes)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._path(key).unlink, True)
