"""The WSGI application: Django, with the media shortcut in front where the portal runs."""

import os

from django.conf import settings
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "echoshare.settings")
application = get_wsgi_application()

if settings.SERVES_PORTAL:
    from echoshare.portal.media_shortcut import MediaShortcut

    application = MediaShortcut(application)  # type: ignore[assignment]
