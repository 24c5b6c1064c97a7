"""An upload handler that writes staff uploads straight into the archive's tmp folder, so
that `instance_store(move=True)` renames them into place instead of copying them again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler

from echoshare.archive import storage


class ArchiveTempFile(UploadedFile):
    def __init__(self, path: Path, name: str, content_type: str, charset: str | None) -> None:
        super().__init__(path.open("w+b"), name, content_type, 0, charset)
        self.path = path

    def temporary_file_path(self) -> str:
        return str(self.path)


class ArchiveTempUploadHandler(FileUploadHandler):
    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        self.upload = ArchiveTempFile(
            storage.new_temp_path(".upload"),
            self.file_name or "",
            self.content_type or "",
            self.charset,
        )

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        self.upload.write(raw_data)
        return None

    def file_complete(self, file_size: int) -> UploadedFile:
        self.upload.flush()
        self.upload.size = file_size
        self.upload.close()
        return self.upload
