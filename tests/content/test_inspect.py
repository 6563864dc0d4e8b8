"""What an uploaded file really is: type by content, decoding, thumbnails, durations, poster frames."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from msg5g.content.inspect import CorruptFile, FileTooLarge, UnsupportedMedia, inspect
from msg5g.domain.media import MaterialKind
from tests.media_samples import jpeg, mp3, mp4, needs_ffmpeg, noisy_png, png

LIMIT = 20 * 1024 * 1024
pytestmark = pytest.mark.asyncio


async def test_an_image_is_known_by_its_content_and_gets_a_thumbnail() -> None:
    facts = await inspect(png(1200, 800), declared_kind=None, max_bytes=LIMIT)
    assert (facts.kind, facts.content_type, facts.extension) == (MaterialKind.IMAGE, "image/png", "png")
    assert (facts.width, facts.height) == (1200, 800)
    assert facts.thumbnail is not None
    assert facts.thumbnail.content_type == "image/jpeg"
    thumb = Image.open(io.BytesIO(facts.thumbnail.data))
    assert max(thumb.size) == 400
    assert thumb.size == (400, 267)
    assert len(facts.thumbnail.data) <= 200 * 1024


async def test_a_file_whose_bytes_are_not_media_is_refused_whatever_its_name() -> None:
    with pytest.raises(UnsupportedMedia) as refused:
        await inspect(b"%PDF-1.4 not an image at all" * 10, declared_kind=MaterialKind.IMAGE, max_bytes=LIMIT)
    assert refused.value.code == "unsupported_media_type"
    assert refused.value.http_status == 415
    with pytest.raises(UnsupportedMedia, match="must be"):
        await inspect(png(), declared_kind=MaterialKind.VIDEO, max_bytes=LIMIT)  # a PNG declared as video


async def test_a_truncated_image_is_corrupt() -> None:
    data = jpeg(800, 600)
    with pytest.raises(CorruptFile) as corrupt:
        await inspect(data[: len(data) // 3], declared_kind=None, max_bytes=LIMIT)
    assert corrupt.value.code == "corrupt_file"
    assert corrupt.value.http_status == 422


async def test_oversize_files_and_thumbnails_are_refused() -> None:
    with pytest.raises(FileTooLarge) as too_large:
        await inspect(png(), declared_kind=None, max_bytes=1000)
    assert too_large.value.http_status == 413
    with pytest.raises(FileTooLarge, match="thumbnail"):
        await inspect(noisy_png(300, 300), declared_kind=MaterialKind.THUMBNAIL, max_bytes=LIMIT)
    with pytest.raises(CorruptFile, match="empty"):
        await inspect(b"", declared_kind=None, max_bytes=LIMIT)


@needs_ffmpeg
async def test_audio_gets_its_duration() -> None:
    facts = await inspect(mp3(2.0), declared_kind=None, max_bytes=LIMIT)
    assert (facts.kind, facts.content_type) == (MaterialKind.AUDIO, "audio/mpeg")
    assert facts.duration_seconds is not None
    assert 1.8 < facts.duration_seconds < 2.3
    assert facts.thumbnail is None
    assert facts.probe_note is None


@needs_ffmpeg
async def test_video_gets_duration_size_and_a_poster_frame() -> None:
    facts = await inspect(mp4(2.0), declared_kind=None, max_bytes=LIMIT)
    assert (facts.kind, facts.content_type, facts.width, facts.height) == (MaterialKind.VIDEO, "video/mp4", 320, 240)
    assert facts.duration_seconds is not None
    assert 1.8 < facts.duration_seconds < 2.3
    assert facts.thumbnail is not None
    assert Image.open(io.BytesIO(facts.thumbnail.data)).format == "JPEG"


@needs_ffmpeg
async def test_a_video_cut_short_is_corrupt() -> None:
    data = mp4(2.0)
    with pytest.raises(CorruptFile):
        await inspect(data[:2000], declared_kind=None, max_bytes=LIMIT)


async def test_without_ffprobe_the_note_says_what_was_not_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    import msg5g.content.inspect as module

    monkeypatch.setattr(module.shutil, "which", lambda _name: None)
    id3_mp3 = b"ID3\x03\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x00" * 500
    facts = await inspect(id3_mp3, declared_kind=None, max_bytes=LIMIT)
    assert facts.kind is MaterialKind.AUDIO
    assert facts.duration_seconds is None
    assert facts.probe_note is not None
    assert "ffprobe is not installed" in facts.probe_note
