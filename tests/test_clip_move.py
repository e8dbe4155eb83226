"""An alert's clip goes from the ring's folder to the media folder on disk, not via memory."""

from __future__ import annotations

from pathlib import Path

from custom_components.ptz_email_alert.clip import _move

CLIP = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 64


def test_the_cut_is_moved_and_read_only_for_an_upload(tmp_path: Path) -> None:
    cut = tmp_path / "ring" / "cut1.mp4"
    cut.parent.mkdir()
    cut.write_bytes(CLIP)
    saved = tmp_path / "media" / "2026-11-22" / "clip.mp4"
    assert _move(cut, saved, read=False) == (None, "")
    assert saved.read_bytes() == CLIP
    assert not cut.exists()

    cut.write_bytes(CLIP)
    assert _move(cut, tmp_path / "media" / "again.mp4", read=True) == (CLIP, "")


def test_a_media_folder_that_cannot_be_written_still_gives_the_upload_its_clip(
    tmp_path: Path,
) -> None:
    """A real fault: the media folder's place is taken by a file (root ignores modes)."""
    cut = tmp_path / "cut1.mp4"
    cut.write_bytes(CLIP)
    (tmp_path / "media").write_text("not a folder")
    clip, error = _move(cut, tmp_path / "media" / "2026-11-22" / "clip.mp4", read=True)
    assert clip == CLIP
    assert error  # logged by the caller as "clip not saved"
    assert not cut.exists()  # nothing left behind in the ring's folder
