"""The prediction server (needs the ``[server]`` extra: starlette, uvicorn)."""

from satchel.serving.app import create_app

__all__ = ["create_app"]
