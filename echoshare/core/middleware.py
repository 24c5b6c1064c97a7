"""Security headers every response carries (SECURITY B6)."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

# Only our own origin: no third-party assets anywhere. `media-src 'self' blob:` lets the
# gallery hand a downloaded file to the Web Share API.
CSP = (
    "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
    "style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
OWN_HEADERS = (
    ("Content-Security-Policy", CSP),
    ("X-Robots-Tag", "noindex, nofollow"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Content-Type-Options", "nosniff"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
)


class SecurityHeadersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        for name, value in OWN_HEADERS:
            response.headers.setdefault(name, value)
        return response


def security_headers(*, secure: bool) -> dict[str, str]:
    """The headers the middleware stack adds to a response that sets none of them itself
    (Django's SecurityMiddleware and XFrameOptionsMiddleware, then ours), for the media
    shortcut that answers without the stack. tests/patient/test_media_shortcut.py compares
    them with the stack's."""
    headers = {"X-Frame-Options": settings.X_FRAME_OPTIONS.upper()}
    if secure and settings.SECURE_HSTS_SECONDS:
        hsts = f"max-age={settings.SECURE_HSTS_SECONDS}"
        if settings.SECURE_HSTS_INCLUDE_SUBDOMAINS:
            hsts += "; includeSubDomains"
        if settings.SECURE_HSTS_PRELOAD:
            hsts += "; preload"
        headers["Strict-Transport-Security"] = hsts
    if settings.SECURE_CONTENT_TYPE_NOSNIFF:
        headers["X-Content-Type-Options"] = "nosniff"
    if settings.SECURE_REFERRER_POLICY:
        policy = settings.SECURE_REFERRER_POLICY
        headers["Referrer-Policy"] = policy if isinstance(policy, str) else ",".join(policy)
    if settings.SECURE_CROSS_ORIGIN_OPENER_POLICY:
        headers["Cross-Origin-Opener-Policy"] = settings.SECURE_CROSS_ORIGIN_OPENER_POLICY
    for name, value in OWN_HEADERS:
        headers.setdefault(name, value)
    return headers
