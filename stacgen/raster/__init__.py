"""Rasters of any layer: the pixel grid, and (later) COG profiles, PNG writing, the COG check."""
