"""Data layer: sources (cache, mirror, system package, URL; verification), loaders, features."""
from .sources import DataCorrupt, DataUnavailable, SOURCES, get_source, resolve  # noqa: F401
