"""Pixels from outside: the L1C product each label was drawn on, found and fetched.

`located` is the one interface between the providers (which find a product and say where its
band files are) and the fetch (which reads those files onto the label grid and writes the
`alcd-l1c` collection, see `stacgen.layout.imagery`).
"""
