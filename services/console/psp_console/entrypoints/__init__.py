"""Thin FastAPI routers, one module per page area (``pages_<area>.py``); ``web.py`` holds what they share."""
