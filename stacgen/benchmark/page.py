"""index.html: the report as one self-contained page (no network; its pictures are files beside
it; the little JavaScript that sorts the tables is inline)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Final

from stacgen import constants
from stacgen.benchmark.protocols import CMIX_CITATION, Evaluated
from stacgen.benchmark.run import BenchmarkResult, Spread


@dataclass(frozen=True)
class Figure:
    """A picture beside index.html: its file name, its caption (units, options) and alt text."""

    file: str
    caption: str
    alt: str


@dataclass(frozen=True)
class Thumbnail:
    file: str
    comparison: str
    processor: str
    item: str
    width: int
    height: int


@dataclass(frozen=True)
class LegendEntry:
    name: str
    rgba: tuple[int, int, int, int]


STYLE: Final = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2em auto;
       max-width: 1200px; padding: 0 1em; color: #222; line-height: 1.4; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
th, td { padding: 0.25em 0.6em; border-bottom: 1px solid #e4e4e4; text-align: right; }
th { background: #f3f3f3; position: sticky; top: 0; }
td.text, th.text { text-align: left; }
table.sortable th { cursor: pointer; user-select: none; }
table.sortable th::after { content: " \\2195"; color: #aaa; font-size: 0.8em; }
table.sortable th.asc::after { content: " \\2191"; color: #222; }
table.sortable th.desc::after { content: " \\2193"; color: #222; }
tr.mean td { color: #555; font-size: 0.95em; }
.note { color: #555; font-size: 0.9em; }
figure { margin: 1em 0; } figcaption { color: #444; font-size: 0.9em; max-width: 900px; }
figure img { max-width: 100%; border: 1px solid #eee; }
.matrices { display: flex; flex-wrap: wrap; gap: 2em; }
.thumbs td { vertical-align: top; text-align: center; }
.thumbs img { image-rendering: pixelated; width: 160px; border: 1px solid #ccc; }
.swatch { display: inline-block; width: 1.1em; height: 1.1em; vertical-align: middle;
          border: 1px solid #888; margin: 0 0.3em 0 1em; }
code { font-size: 0.9em; } .wide { overflow-x: auto; }
.warn { background: #fff4e0; border-left: 4px solid #E69F00; padding: 0.3em 1em; }
"""

SORT_SCRIPT: Final = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (th, col) {
    th.addEventListener("click", function () {
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      var asc = !th.classList.contains("asc");
      table.querySelectorAll("th").forEach(function (h) { h.classList.remove("asc", "desc"); });
      th.classList.add(asc ? "asc" : "desc");
      function key(row) {
        var cell = row.cells[col];
        var v = cell.getAttribute("data-value");
        if (v === null) { return cell.textContent.trim().toLowerCase(); }
        return v === "" ? NaN : parseFloat(v);
      }
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        if (typeof x === "number" && typeof y === "number") {
          if (isNaN(x)) { return isNaN(y) ? 0 : 1; }
          if (isNaN(y)) { return -1; }
          return asc ? x - y : y - x;
        }
        return asc ? String(x).localeCompare(String(y)) : String(y).localeCompare(String(x));
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
"""


def _fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _num(value: float | None, digits: int = 3, title: str | None = None) -> str:
    data = "" if value is None else repr(float(value))
    tip = f' title="{escape(title)}"' if title else ""
    return f'<td data-value="{data}"{tip}>{_fmt(value, digits)}</td>'


def _text(value: str) -> str:
    return f'<td class="text">{escape(value)}</td>'


def _head(cells: Iterable[str], text_columns: int = 1) -> str:
    out = []
    for i, c in enumerate(cells):
        cls = ' class="text"' if i < text_columns else ""
        out.append(f"<th{cls}>{escape(c)}</th>")
    return "<thead><tr>" + "".join(out) + "</tr></thead>"


def _cell_of(e: Evaluated, metric: str) -> str:
    return _num(e.values.get(metric), title=e.undefined.get(metric) or e.reason)


def _spread_cell(s: Spread) -> str:
    if s.mean is None:
        return '<td data-value="">n/a</td>'
    title = f"mean over {s.n} scene(s); std {s.std:.3f}; min {s.min:.3f}; max {s.max:.3f}"
    return f'<td data-value="{s.mean!r}" title="{escape(title)}">{s.mean:.3f} ± {s.std:.3f}</td>'


def main_table(result: BenchmarkResult) -> str:
    columns = result.protocol.columns
    rows = []
    for r in result.processors:
        cells = "".join(_cell_of(r.pooled[c.comparison], c.metric) for c in columns)
        n = r.pooled[columns[0].comparison].confusion.n
        rows.append(
            f"<tr>{_text(r.processor.name)}{_text('pooled over pixels')}{cells}"
            f'<td data-value="{n}">{n:,}</td></tr>'
        )
        spread = "".join(_spread_cell(r.spread[c.comparison][c.metric]) for c in columns)
        scenes = len(r.scenes)
        rows.append(
            f'<tr class="mean">{_text(r.processor.name)}{_text("mean ± std over scenes")}'
            f'{spread}<td data-value="{scenes}">{scenes} scenes</td></tr>'
        )
    head = _head(["processor", "figure", *(c.label for c in columns), "pixels / scenes"], 2)
    return f'<table class="sortable" id="main">{head}<tbody>{"".join(rows)}</tbody></table>'


def confusion_tables(result: BenchmarkResult) -> str:
    out = []
    for r in result.processors:
        for name in result.protocol.comparisons:
            e = r.pooled[name]
            if not e.applicable:
                out.append(
                    f"<div><h3>{escape(r.processor.name)}: {escape(name)}</h3>"
                    f'<p class="note">not applicable: {escape(e.reason or "")}</p></div>'
                )
                continue
            c = e.confusion
            positive = "cloud or shadow" if name == "invalid" else name
            negative = "not cloud" if result.protocol.name == "cmix" else "clear"
            out.append(
                f"<div><h3>{escape(r.processor.name)}: {escape(name)}</h3>"
                f"<table><thead><tr><th class='text'>pixels</th>"
                f"<th>mask: {escape(positive)}</th><th>mask: {negative}</th></tr></thead><tbody>"
                f"<tr><th class='text'>reference: {escape(positive)}</th>"
                f"<td>{c.tp:,} (TP)</td><td>{c.fn:,} (FN)</td></tr>"
                f"<tr><th class='text'>reference: {negative}</th>"
                f"<td>{c.fp:,} (FP)</td><td>{c.tn:,} (TN)</td></tr>"
                f"</tbody></table></div>"
            )
    return f'<div class="matrices">{"".join(out)}</div>'


def scene_table(result: BenchmarkResult) -> str:
    headline = result.protocol.columns[:4]
    by_item = {r.processor.name: {sc.item: sc for sc in r.scenes} for r in result.processors}
    head = ["item", "site", "date", "cloud %", "snow %"]
    for r in result.processors:
        head += [f"{r.processor.name} {c.label}" for c in headline]
    rows = []
    for s in result.scenes:
        cells = [
            _text(s.id),
            _text(s.site),
            _text(s.datetime[:10]),
            _num(s.cloud_cover, 1),
            _num(s.snow_cover, 1),
        ]
        for r in result.processors:
            sc = by_item[r.processor.name][s.id]
            cells += [_cell_of(sc.comparisons[c.comparison], c.metric) for c in headline]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f'<div class="wide"><table class="sortable" id="scenes">{_head(head, 3)}'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def site_table(result: BenchmarkResult) -> str:
    headline = result.protocol.columns[:4]
    sites = sorted({s.site for s in result.scenes})
    counts = {site: sum(1 for s in result.scenes if s.site == site) for site in sites}
    head = ["site", "scenes"]
    for r in result.processors:
        head += [f"{r.processor.name} {c.label}" for c in headline]
    rows = []
    for site in sites:
        cells = [_text(site), f'<td data-value="{counts[site]}">{counts[site]}</td>']
        for r in result.processors:
            cells += [_cell_of(r.sites[site][c.comparison], c.metric) for c in headline]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f'<div class="wide"><table class="sortable" id="sites">{_head(head, 1)}'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def items_list(result: BenchmarkResult) -> str:
    rows = [
        "<tr>"
        + _text(s.id)
        + _text(s.site)
        + _text(s.datetime)
        + _text(", ".join(s.subsets))
        + _text(s.split or "")
        + "</tr>"
        for s in result.scenes
    ]
    head = _head(["item", "site", "datetime", "subsets", "split"], 5)
    table = f'<table class="sortable" id="items">{head}<tbody>{"".join(rows)}</tbody></table>'
    if result.unscored:
        lines = "".join(
            f"<li><code>{escape(u.item)}</code>: {escape(u.processor)}'s mask could not be "
            f"scored: {escape(u.reason)}</li>"
            for u in result.unscored
        )
        table += f"<p>Left out (a mask could not be scored):</p><ul>{lines}</ul>"
    excluded = result.plan.excluded
    if excluded:
        lines = "".join(
            f"<li><code>{escape(e.item)}</code>: no mask from {escape(', '.join(e.missing))}</li>"
            for e in excluded
        )
        table += f"<p>Left out (not every processor has a mask for them):</p><ul>{lines}</ul>"
    return table


def _figures(figures: Sequence[Figure]) -> str:
    return "".join(
        f'<figure><img src="{escape(f.file)}" alt="{escape(f.alt)}">'
        f"<figcaption>{escape(f.caption)}</figcaption></figure>"
        for f in figures
    )


def _thumbnails(
    result: BenchmarkResult,
    thumbs: Sequence[Thumbnail],
    legend: Sequence[LegendEntry],
    notes: Mapping[str, str],
) -> str:
    """Per comparison the report shows: its note, the legend, and a row per scene of one
    thumbnail per processor ('n/a' where the comparison does not apply to that mask)."""
    if not thumbs:
        return ""
    by_key = {(t.comparison, t.processor, t.item): t for t in thumbs}
    names = [r.processor.name for r in result.processors]
    swatches = "".join(
        f'<span class="swatch" style="background: rgba{(*e.rgba[:3], e.rgba[3] / 255)}">'
        f"</span>{escape(e.name)}"
        for e in legend
    )
    sections = []
    for comparison in result.protocol.comparisons:
        rows = []
        for s in result.scenes:
            cells = [f'<td class="text"><b>{escape(s.site)}</b><br>{escape(s.datetime[:10])}</td>']
            for name in names:
                t = by_key.get((comparison, name, s.id))
                if t is None:
                    cells.append('<td title="not applicable to this mask">n/a</td>')
                    continue
                alt = f"agreement of {name} with the reference, {comparison}, {s.id}"
                cells.append(
                    f'<td><img src="{escape(t.file)}" alt="{escape(alt)}" '
                    f'width="{t.width}" height="{t.height}"></td>'
                )
            rows.append("<tr>" + "".join(cells) + "</tr>")
        head = _head(["scene", *names], 1)
        sections.append(
            f'<h3 id="agreement-{escape(comparison)}">{escape(comparison)}</h3>'
            f'<p class="note">{escape(notes.get(comparison, ""))}</p>'
            f'<p class="legend">Legend:{swatches}</p>'
            f'<table class="thumbs">{head}<tbody>{"".join(rows)}</tbody></table>'
        )
    return "".join(sections)


TAG_CHARS: Final = 120  # a tag value longer than this is cut on the page (whole in the JSON)


def _tags(tags: dict[str, str]) -> str:
    """The tags all of a processor's masks carry alike: its own word on what made them."""
    if not tags:
        return ""
    shown = "; ".join(
        f"{k}={v if len(v) <= TAG_CHARS else v[:TAG_CHARS] + '...'}" for k, v in tags.items()
    )
    return f'<br><span class="note">tags of all its masks: <code>{escape(shown)}</code></span>'


def _warnings(warnings: Sequence[str]) -> str:
    if not warnings:
        return ""
    lines = "".join(f"<li>{escape(w)}</li>" for w in warnings)
    return f'<div class="warn"><b>Warnings</b><ul>{lines}</ul></div>'


def render(
    result: BenchmarkResult,
    figures: Sequence[Figure] = (),
    thumbs: Sequence[Thumbnail] = (),
    legend: Sequence[LegendEntry] = (),
    thumb_notes: Mapping[str, str] | None = None,
) -> str:
    protocol, plan = result.protocol, result.plan
    names = ", ".join(r.processor.name for r in result.processors)
    processors = "".join(
        f"<li><b>{escape(r.processor.name)}</b>: code table "
        f"<code>{escape(str(r.codes.get('name')))}</code> "
        f"({escape(str(r.codes.get('source', '')))}), masks in "
        f"<code>{escape(str(r.processor.masks))}</code>{_tags(r.common_tags)}</li>"
        for r in result.processors
    )
    options = ", ".join(f"{k}={v}" for k, v in result.options.as_dict().items())
    undefined = "n/a: a metric whose denominator is zero (hover a cell for the reason)"
    sections = [
        f"<h1>Cloud mask benchmark: {escape(names)}</h1>",
        f'<p class="note">Against the ALCD Sentinel-2 reference cloud masks; protocol '
        f"<b>{escape(protocol.name)}</b>: {escape(protocol.title)}. {len(result.scenes)} scenes "
        f"({escape(plan.selection.describe())}); catalog <code>{escape(plan.catalog)}</code>."
        "</p>",
        f"<ul>{processors}</ul>",
        _warnings(plan.warnings),
        f'<p class="note">Rules: {escape(protocol.rules)} Score options: {escape(options)}.</p>',
        "<h2>Processors by metric</h2>",
        f'<p class="note">Pooled over pixels: the metrics of the summed confusion matrix of all '
        f"scenes. Mean ± std over scenes: each scene's metric, averaged (population standard "
        f"deviation; a scene where the metric is undefined is not counted). {undefined}. "
        "Click a column to sort.</p>",
        main_table(result),
        "<h2>Confusion matrices (pooled, in 60 m pixels)</h2>",
        confusion_tables(result),
        "<h2>Figures</h2>" if figures else "",
        _figures(figures),
        "<h2>Per scene</h2>",
        scene_table(result),
        "<h2>Per site (pooled over the site's scenes)</h2>",
        site_table(result),
        "<h2>Agreement per scene</h2>" if thumbs else "",
        _thumbnails(result, thumbs, legend, thumb_notes or {}),
        "<h2>Items used</h2>",
        items_list(result),
        "<h2>Cite</h2>",
        f"<ul><li>{escape(constants.DATASET_CITATION)}</li>"
        f"<li>{escape(constants.PAPER_CITATION)}</li><li>{escape(CMIX_CITATION)}</li></ul>",
        '<p class="note">Every number of this page is in <a href="benchmark.json">benchmark.json'
        '</a> and <a href="benchmark.csv">benchmark.csv</a>, with the masks\' sha256 and the '
        "software versions.</p>",
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>Cloud mask benchmark: {escape(names)}</title>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<style>{STYLE}</style></head><body>\n"
        + "\n".join(s for s in sections if s)
        + f"\n<script>{SORT_SCRIPT}</script>\n</body></html>\n"
    )
