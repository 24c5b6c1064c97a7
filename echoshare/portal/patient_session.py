"""What a visitor's session remembers on the patient pages: opened shares and the language.

A share counts as opened in a session only after its password was accepted there (B2). The
session holds share public ids and expiry times, never a token, password or code, and it
expires no later than the earliest share it opened (B3).
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from importlib import import_module

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone, translation

from echoshare.portal.models import Share

OPENED_KEY = "portal_opened_shares"
LANGUAGE_KEY = "portal_language"
LANGUAGE_PARAMETER = "lang"


def _opened(request: HttpRequest) -> dict[str, str]:
    value = request.session.get(OPENED_KEY, {})
    return dict(value) if isinstance(value, dict) else {}


def _set_expiry(request: HttpRequest, opened: dict[str, str]) -> None:
    now = timezone.now()
    expiries = [datetime.fromisoformat(when) for when in opened.values()]
    live = [when for when in expiries if when > now]
    if live:
        request.session.set_expiry(min(live))


def session_open_share(request: HttpRequest, share: Share) -> None:
    """Remember a share whose password was just accepted; new session key (fixation)."""
    request.session.cycle_key()
    opened = _opened(request)
    opened[share.public_id] = share.expires_at.isoformat()
    request.session[OPENED_KEY] = opened
    _set_expiry(request, opened)


def session_has_share(request: HttpRequest, share: Share) -> bool:
    return session_has_opened(request, share.public_id)


def session_has_opened(request: HttpRequest, share_public_id: str) -> bool:
    """Only reads: a GET of a photo never saves or renews the session."""
    return share_public_id in _opened(request)


@lru_cache(maxsize=4096)
def opened_in_session_data(session_data: str) -> frozenset[str]:
    """The shares opened in a session, from its stored (signed) data, for the media shortcut.

    Checking the signature costs more than the rest of a photo's request; the same stored
    string always decodes to the same shares, so each distinct one is checked once. Whether
    the session still exists and has not expired is asked of the database every time.
    """
    store = import_module(settings.SESSION_ENGINE).SessionStore()
    value = store.decode(session_data).get(OPENED_KEY, {})
    return frozenset(value) if isinstance(value, dict) else frozenset()


def session_forget_share(request: HttpRequest, share: Share) -> None:
    opened = _opened(request)
    if opened.pop(share.public_id, None) is not None:
        request.session[OPENED_KEY] = opened


def page_language(request: HttpRequest, share: Share | None) -> str:
    """?lang= (remembered for the next pages), else the remembered choice, else the share's
    language, else what the browser asked for (LocaleMiddleware)."""
    codes = {code for code, _name in settings.LANGUAGES}
    asked = request.GET.get(LANGUAGE_PARAMETER)
    if asked in codes:
        if request.session.get(LANGUAGE_KEY) != asked:
            request.session[LANGUAGE_KEY] = asked
        return str(asked)
    saved = request.session.get(LANGUAGE_KEY)
    if saved in codes:
        return str(saved)
    if share is not None and share.language in codes:
        return share.language
    return translation.get_language() or settings.LANGUAGE_CODE
