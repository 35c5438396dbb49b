"""Putting a built catalog where others read it: a pgstac database (and object storage)."""
