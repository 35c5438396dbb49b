"""STAC: pure Item and Collection builders, items.parquet, links, offline validation."""
