"""Writing a benchmark report folder atomically: index.html, benchmark.json, benchmark.csv, the
figures and the agreement thumbnails, in a temp folder beside --out swapped in whole.

--out must be missing, empty, or a report this command wrote (its marker file is there);
anything else is refused in one line before any scoring, and left alone.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import numpy as np

from stacgen import __version__
from stacgen.benchmark import figures
from stacgen.benchmark.errors import BenchmarkError
from stacgen.benchmark.inputs import Processor
from stacgen.benchmark.page import LegendEntry, Thumbnail, render
from stacgen.benchmark.protocols import Protocol
from stacgen.benchmark.run import BenchmarkResult, OnMask, Plan, run
from stacgen.benchmark.tables import benchmark_csv, benchmark_json
from stacgen.fileutil import FILE_MODE, swap_in
from stacgen.raster.png import png_bytes
from stacgen.score import MaskScore
from stacgen.score.codes import Groups
from stacgen.score.metrics import agreement, agreement_lut
from stacgen.score.outputs import AGREEMENT, agreement_rgba

MARKER: Final = ".stacgen-benchmark.json"
THUMB_PX: Final = 160  # the longest side of an agreement thumbnail, in pixels
DIR_MODE: Final = FILE_MODE | ((FILE_MODE & 0o444) >> 2)


def check_out(out: Path) -> None:
    """`out` may be replaced only if it is missing, empty, or a report this command wrote."""
    if not out.exists() and not out.is_symlink():
        return
    if not out.is_dir():
        raise BenchmarkError(f"--out {out}: exists and is not a folder: refusing to replace it")
    if (out / MARKER).is_file() or not any(out.iterdir()):
        return
    raise BenchmarkError(
        f"--out {out}: not empty and not a report stacgen benchmark wrote (no {MARKER}): "
        "refusing to replace it; choose another --out or empty this folder"
    )


def thumbnail(agreement: np.ndarray[tuple[int, ...], np.dtype[np.uint8]]) -> bytes:
    """Every k-th 60 m pixel of the agreement codes, k so that the longest side <= THUMB_PX."""
    step = max(1, -(-max(agreement.shape) // THUMB_PX))
    return png_bytes(agreement_rgba(np.ascontiguousarray(agreement[::step, ::step])))


@dataclass
class _Pictures:
    """Each scene's agreement thumbnail for every comparison the report shows, written as its
    score arrives (the pair codes are not kept): thumbs/<comparison>/<processor>/<item>.png."""

    folder: Path
    protocol: Protocol
    thumbs: list[Thumbnail] = field(default_factory=list)
    luts: dict[str, Groups] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in self.protocol.comparisons:
            self.luts[name] = agreement_lut(self.protocol.confusion_rule(name))

    def add(self, p: Processor, score: MaskScore) -> None:
        if score.pairs is None:
            return
        evaluated = self.protocol.scene(score)
        step = max(1, -(-max(score.pairs.shape) // THUMB_PX))
        h, w = (-(-n // step) for n in score.pairs.shape)
        for name, lut in self.luts.items():
            if not evaluated[name].applicable:
                continue  # shadow for a mask without a shadow class: nothing to picture
            file = f"thumbs/{name}/{p.name}/{score.item.id}.png"
            path = self.folder / file
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(thumbnail(agreement(score.pairs, lut)))
            self.thumbs.append(Thumbnail(file, name, p.name, score.item.id, w, h))


LEGEND_NOTE: Final = (
    "Each picture is one processor's mask against the reference for the {comparison} "
    "comparison ({meaning}), on the 60 m reference grid, every k-th pixel shown so that it "
    "fits in {px} px; no data on either side, and pixels the comparison does not count, are "
    "transparent."
)


def write_report(
    the_plan: Plan,
    protocol: Protocol,
    out: Path,
    *,
    workers: int = 1,
    on_mask: OnMask | None = None,
) -> BenchmarkResult:
    """Score the plan and write the report folder `out` (all or nothing)."""
    out = out.absolute()
    check_out(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        pictures = _Pictures(tmp, protocol)

        def seen(p: Processor, score: MaskScore) -> None:
            pictures.add(p, score)
            if on_mask is not None:
                on_mask(p, score)

        result = run(the_plan, protocol, workers=workers, on_mask=seen)
        drawn = figures.draw(result, tmp)
        legend = [LegendEntry(name, rgba) for code, (name, rgba) in AGREEMENT.items() if code]
        notes = {
            name: LEGEND_NOTE.format(comparison=name, meaning=meaning, px=THUMB_PX)
            for name, meaning in protocol.meanings.items()
        }
        page = render(result, drawn, pictures.thumbs, legend, notes)
        (tmp / "index.html").write_text(page, encoding="utf-8")
        text = json.dumps(benchmark_json(result), indent=2, ensure_ascii=False) + "\n"
        (tmp / "benchmark.json").write_text(text, encoding="utf-8")
        (tmp / "benchmark.csv").write_text(benchmark_csv(result), encoding="utf-8")
        marker = {"written_by": "stacgen benchmark", "stacgen_version": __version__}
        (tmp / MARKER).write_text(json.dumps(marker) + "\n", encoding="utf-8")
        for path in [tmp, *tmp.rglob("*")]:
            path.chmod(DIR_MODE if path.is_dir() else FILE_MODE)
        check_out(out)  # still ours to replace, after the scoring
        swap_in(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return result
