"""Processors' masks for the catalog's items (issue 22 §1): `stacgen masks`' library.

`detect.detect` runs a cloud detector (one module each: `s2cloudless`, `ukis_csmask`, behind
`detector.Detector`; each imports its package only when made) on the fetched L1C of each item
(`stacgen.layout.imagery`), read window by window onto the detector's grid (`reflectance`), and
writes one mask COG per item, named so that `stacgen score` matches it (`outputs`).
"""
