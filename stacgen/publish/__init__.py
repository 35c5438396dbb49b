"""Putting a built catalog where others read it: object storage and a pgstac database.

`stacgen publish` (object storage under a public URL, safe for readers): absolute.py makes the
absolute variant of a catalog folder in a staging folder, plan.py decides what to send, keep and
delete in the order readers need, store.py talks to S3, pipeline.py runs the steps. pgstac.py
loads the same catalog into a pgstac database.
"""
