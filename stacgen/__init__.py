"""stacgen: the ALCD Sentinel-2 reference cloud masks as a STAC catalog."""

from importlib.metadata import version

# pyproject.toml is the one place the version is written.
__version__ = version("stacgen")
