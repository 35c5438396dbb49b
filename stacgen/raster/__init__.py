"""Rasters of any layer: the pixel grid (grid.py), COG profile, writing and check (cog.py), PNG
pictures (png.py)."""
