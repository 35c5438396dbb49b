"""stacgen: the ALCD Sentinel-2 reference cloud masks as a STAC catalog."""

__version__ = "0.1.0"
