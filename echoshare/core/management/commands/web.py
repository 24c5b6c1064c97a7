"""`echoshare web`: the web server (gunicorn) alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import connections
from gunicorn.app.base import BaseApplication

from echoshare.core.gunicorn_conf import gunicorn_options


class EchoshareWeb(BaseApplication):  # type: ignore[misc]
    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from echoshare.wsgi import application  # after settings: it reads the role

        return application


class Command(BaseCommand):
    help = "Run the web server (gunicorn) on ECHOSHARE_HTTP_HOST:ECHOSHARE_HTTP_PORT."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--bind", help="host:port, instead of the settings")

    def handle(self, *args: Any, bind: str | None = None, **options: Any) -> None:
        config = gunicorn_options()
        if bind:
            config["bind"] = [bind]
        # WhiteNoise also serves collected files from STATIC_ROOT and warns if it is missing.
        Path(settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)
        # gunicorn forks its workers: no connection may cross the fork.
        connections.close_all()
        EchoshareWeb(config).run()
