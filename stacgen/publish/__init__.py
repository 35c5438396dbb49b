"""`stacgen publish`: the catalog on object storage under a public URL, safe for readers.

absolute.py makes the absolute variant of a catalog folder in a staging folder, plan.py decides
what to send, keep and delete in the order readers need, store.py talks to S3, pipeline.py runs
the steps. The pgstac loading of the same catalog lives in pgstac.py.
"""
