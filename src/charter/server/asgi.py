"""ASGI entry point for multi-process serving (``charter serve --workers N`` or any ASGI server)."""

from charter.server.app import create_app

app = create_app()
