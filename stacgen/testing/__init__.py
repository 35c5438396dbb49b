"""Scaffolding for tests, the benchmark and trying stacgen without the 224 MiB download.

Installed with the package (not kept under tests/) because `make bench`, the README's examples
(run in CI against a synthetic catalog) and the test suites of every subpackage build their
archives with it, and a user can make one to try every command offline.
"""
