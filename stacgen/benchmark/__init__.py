"""Benchmark cloud masks against the ALCD references (issue 22): `stacgen benchmark`'s library.

Every processor's masks are scored with `stacgen.score` on every chosen item they all cover, and
the results written as one report folder (index.html, benchmark.json, benchmark.csv, figures):

from stacgen.benchmark import BY_NAME, parse_processor, plan, write_report
the_plan = plan([parse_processor("fmask=fmask4:masks/fmask")], "catalog/catalog.json")
result = write_report(the_plan, BY_NAME["paper"], Path("report"))
"""

from __future__ import annotations

from stacgen.benchmark.errors import BenchmarkError
from stacgen.benchmark.inputs import SPLITS, SUBSETS, Processor, Selection, parse_processor
from stacgen.benchmark.protocols import BY_NAME, CMIX, PAPER, PROTOCOLS, Protocol
from stacgen.benchmark.report import MARKER, write_report
from stacgen.benchmark.run import BenchmarkResult, Plan, plan, run

__all__ = [
    "BY_NAME",
    "CMIX",
    "MARKER",
    "PAPER",
    "PROTOCOLS",
    "SPLITS",
    "SUBSETS",
    "BenchmarkError",
    "BenchmarkResult",
    "Plan",
    "Processor",
    "Protocol",
    "Selection",
    "parse_processor",
    "plan",
    "run",
    "write_report",
]
