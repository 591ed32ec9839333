"""WSGI entry point: `gunicorn wsgi:app`."""

from bungkesmas import create_app

app = create_app()
