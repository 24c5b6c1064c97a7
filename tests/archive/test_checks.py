"""System check echoshare.E020: the archive folder must be writable."""

from __future__ import annotations

from echoshare.archive.checks import check_archive_dir


def test_a_writable_or_creatable_archive_folder_passes(settings, tmp_path):
    settings.ARCHIVE_DIR = tmp_path / "not" / "yet" / "there"
    assert check_archive_dir(None) == []


def test_a_file_where_the_folder_should_be_is_an_error(settings, tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    settings.ARCHIVE_DIR = blocker / "inside"

    [error] = check_archive_dir(None)
    assert error.id == "echoshare.E020"
