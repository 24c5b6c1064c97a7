"""The items of a share as the patient pages show them: names, labels and URLs."""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.urls import reverse
from django.utils.translation import gettext as _

from echoshare.portal.models import Share, ShareItem

MEDIA_KINDS = ("full", "thumb", "poster", "download")


@dataclass(frozen=True)
class Entry:
    item: ShareItem
    number: int  # 1-based among items of the same kind
    label: str
    name: str  # the generic download name (A7)
    full_url: str
    download_url: str
    thumb_url: str | None
    poster_url: str | None
    view_url: str | None  # the full-view page of a photo


def media_url(token: str, item: ShareItem, kind: str) -> str:
    return reverse("patient:media", args=[token, item.public_id, kind])


def _entry(token: str, item: ShareItem, number: int) -> Entry:
    is_clip = item.kind == ShareItem.Kind.CLIP
    label = (_("Ultrasound clip %(number)s") if is_clip else _("Ultrasound photo %(number)s")) % {
        "number": number
    }
    return Entry(
        item=item,
        number=number,
        label=label,
        name=item.file_name,
        full_url=media_url(token, item, "full"),
        download_url=media_url(token, item, "download"),
        thumb_url=media_url(token, item, "thumb") if item.thumbnail_key else None,
        poster_url=media_url(token, item, "poster") if item.poster_key else None,
        view_url=None if is_clip else reverse("patient:photo", args=[token, item.public_id]),
    )


def share_entries(token: str, share: Share) -> list[Entry]:
    """Every item of the share in its order, numbered per kind."""
    counters = {ShareItem.Kind.STILL: 0, ShareItem.Kind.CLIP: 0}
    entries = []
    for item in share.items.order_by("position"):
        kind = ShareItem.Kind(item.kind)
        counters[kind] += 1
        entries.append(_entry(token, item, counters[kind]))
    return entries


def share_files_json(entries: list[Entry]) -> str:
    """What "Save to Photos" fetches and hands to the Web Share API."""
    return json.dumps(
        [{"url": e.full_url, "name": e.name, "type": e.item.content_type} for e in entries]
    )
