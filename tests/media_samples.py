"""Real media files for tests, made on the spot: images by Pillow, audio and video by Debian's ffmpeg
(tests that need those skip, saying so, where it is not installed)."""

from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
from functools import cache
from pathlib import Path

import pytest
from PIL import Image

FFMPEG = shutil.which("ffmpeg")
needs_ffmpeg = pytest.mark.skipif(FFMPEG is None, reason="ffmpeg is not installed (Debian package ffmpeg)")


def png(width: int = 640, height: int = 480, color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, format="PNG")
    return out.getvalue()


def jpeg(width: int = 640, height: int = 480, color: tuple[int, int, int] = (30, 90, 200)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, format="JPEG", quality=90)
    return out.getvalue()


def noisy_png(width: int, height: int) -> bytes:
    """A PNG that does not compress: its size grows with its pixels (for over-size tests)."""
    import os

    image = Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=0)
    return out.getvalue()


@cache
def _ffmpeg(name: str, *args: str) -> bytes:
    assert FFMPEG is not None
    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / name
        subprocess.run([FFMPEG, "-v", "error", "-y", *args, str(target)], check=True, timeout=60)
        return target.read_bytes()


def mp3(seconds: float = 2.0) -> bytes:
    return _ffmpeg("tone.mp3", "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}", "-c:a", "libmp3lame")


def mp4(seconds: float = 2.0) -> bytes:
    return _ffmpeg("clip.mp4", "-f", "lavfi", "-i", f"testsrc=duration={seconds}:size=320x240:rate=10",
                   "-pix_fmt", "yuv420p", "-c:v", "libx264", "-movflags", "+faststart")
