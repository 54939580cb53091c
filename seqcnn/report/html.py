"""Self-contained HTML reports: images embedded as base64 data URIs, inline CSS and a small sortable-table
script, no external resource of any kind, so a report opens offline from a single file."""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from seqcnn.io.atomic import atomic_open

_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
table { border-collapse: collapse; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 3px 6px; vertical-align: middle; text-align: left; }
th { background: #f2f2f2; position: sticky; top: 0; }
table.sortable th { cursor: pointer; user-select: none; }
table.sortable th[data-order="asc"]::after { content: " \\25B2"; }
table.sortable th[data-order="desc"]::after { content: " \\25BC"; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td img { display: block; max-height: 90px; }
.note { color: #555; font-size: 0.9em; max-width: 60em; }
.figure { margin: 0.8em 0; } .figure img { max-width: 100%; }
"""

# Sorts a table.sortable by the clicked column: numbers numerically (before text), text case-blind;
# a cell's data-sort attribute, when present, is its key (cells holding images, formatted numbers).
_SORT_JS = """
(function () {
  function key(cell) {
    var v = cell.hasAttribute("data-sort") ? cell.getAttribute("data-sort") : cell.textContent.trim();
    var n = Number(v);
    return (v !== "" && isFinite(n)) ? [0, n] : [1, v.toLowerCase()];
  }
  function compare(a, b) {
    if (a[0] !== b[0]) { return a[0] - b[0]; }
    return a[1] < b[1] ? -1 : (a[1] > b[1] ? 1 : 0);
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    var headers = table.querySelectorAll("thead th");
    headers.forEach(function (th, col) {
      th.addEventListener("click", function () {
        var asc = th.getAttribute("data-order") !== "asc";
        headers.forEach(function (h) { h.removeAttribute("data-order"); });
        th.setAttribute("data-order", asc ? "asc" : "desc");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (r1, r2) {
          var c = compare(key(r1.cells[col]), key(r2.cells[col]));
          return asc ? c : -c;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });
})();
"""


def escape(text: object) -> str:
    """HTML-escape ``str(text)`` (quotes included).

    Parameters
    ----------
    text
        Anything.

    Returns
    -------
    str
        Safe to insert into HTML text and attribute values.
    """
    return html.escape(str(text), quote=True)


def png_data_uri(png: bytes) -> str:
    """A ``data:image/png;base64,...`` URI of PNG bytes.

    Parameters
    ----------
    png
        The PNG file's contents.

    Returns
    -------
    str
        The URI.
    """
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def img_tag(png: bytes, alt: str, *, title: str | None = None) -> str:
    """An ``<img>`` with the PNG embedded (no file beside the report needed).

    Parameters
    ----------
    png
        The PNG file's contents.
    alt
        Alternative text.
    title
        Tooltip.

    Returns
    -------
    str
        The element.
    """
    tip = f' title="{escape(title)}"' if title else ""
    return f'<img src="{png_data_uri(png)}" alt="{escape(alt)}"{tip}>'


@dataclass
class Cell:
    """A table cell.

    Attributes
    ----------
    html
        Inserted as is (escape text yourself).
    sort
        Its sort key (default: its text).
    numeric
        Right-aligned.
    """

    html: str
    sort: str | float | None = None
    numeric: bool = False


def text_cell(value: object) -> Cell:
    """A cell showing ``value`` escaped.

    Parameters
    ----------
    value
        Text, an int, or a float (3 significant digits; NaN shows empty); None shows empty.

    Returns
    -------
    Cell
        Numbers right-aligned and sorted numerically.
    """
    if isinstance(value, float):
        shown = "" if value != value else f"{value:.3g}"  # NaN shows empty
        return Cell(escape(shown), sort="" if value != value else repr(value), numeric=True)
    if isinstance(value, int):
        return Cell(escape(value), sort=str(value), numeric=True)
    return Cell(escape("" if value is None else value))


def sortable_table(headers: Sequence[str], rows: Sequence[Sequence[Cell]], *, table_id: str) -> str:
    """A ``<table class="sortable">``: click a header to sort by that column.

    Parameters
    ----------
    headers
        Column headings.
    rows
        Cells of each row.
    table_id
        The element's id.

    Returns
    -------
    str
        The table's HTML.
    """
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for c in row:
            attrs = ' class="num"' if c.numeric else ""
            if c.sort is not None:
                attrs += f' data-sort="{escape(c.sort)}"'
            cells.append(f"<td{attrs}>{c.html}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (f'<table class="sortable" id="{escape(table_id)}"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table>")


def page(title: str, sections: Sequence[str]) -> str:
    """A complete HTML document with inline CSS and the sortable-table script.

    Parameters
    ----------
    title
        Page title and heading.
    sections
        HTML fragments, in order.

    Returns
    -------
    str
        The document.
    """
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{escape(title)}</title>"
            f"<style>{_CSS}</style></head><body><h1>{escape(title)}</h1>\n"
            + "\n".join(sections) + f"\n<script>{_SORT_JS}</script></body></html>\n")


def section(heading: str, *parts: str) -> str:
    """An ``<h2>`` section holding the given HTML fragments.

    Parameters
    ----------
    heading
        The section's heading.
    *parts
        HTML fragments.

    Returns
    -------
    str
        The section's HTML.
    """
    return f"<section><h2>{escape(heading)}</h2>{''.join(parts)}</section>"


def write_html(document: str, path: str | Path) -> Path:
    """Write ``document`` to ``path`` atomically (UTF-8).

    Parameters
    ----------
    document
        The HTML.
    path
        Where to write it.

    Returns
    -------
    Path
        ``path``.
    """
    with atomic_open(path, "w", encoding="utf-8") as handle:
        handle.write(document)
    return Path(path)


def _motif_rows(table: pd.DataFrame, logos: dict[str, bytes],
                match_logos: dict[str, bytes]) -> list[list[Cell]]:
    """Rows of the motif table: filter, its logo, its best match's logo, then the numbers."""
    rows = []
    for rec in table.itertuples(index=False):
        own = logos.get(rec.filter)
        match = match_logos.get(rec.filter)
        rows.append([
            Cell(escape(rec.filter), sort=rec.filter.removeprefix("filter"), numeric=True),
            Cell(img_tag(own, f"logo of {rec.filter}") if own else "", sort=rec.consensus),
            Cell(img_tag(match, f"logo of {rec.match_id}") if match else "", sort=rec.match_name or ""),
            Cell(f"<code>{escape(rec.consensus)}</code>", sort=rec.consensus),
            text_cell(float(rec.information_content)), text_cell(int(rec.sites)),
            text_cell(float(rec.influence)), text_cell(getattr(rec, "top_task", None) or ""),
            text_cell(float(getattr(rec, "top_task_influence", float("nan")))),
            text_cell(rec.match_id or ""), text_cell(rec.match_name or ""),
            text_cell(rec.match_orientation or ""), text_cell(float(rec.match_q_value)),
        ])
    return rows


def render_motif_report(
    table: pd.DataFrame, logos: dict[str, bytes], match_logos: dict[str, bytes], influence: bytes | None,
    maps: Sequence[tuple[str, bytes]], *, info: dict[str, object], maps_note: str | None = None,
    q_threshold: float = 0.05, extra_sections: Sequence[str] = (),
) -> str:
    """The motif report page: summary, sortable motif table, influence chart and example mutation maps.

    Parameters
    ----------
    table
        One row per filter (``filter``, ``consensus``, ``information_content``, ``sites``,
        ``influence``, ``top_task``, ``top_task_influence``, ``match_id``, ``match_name``,
        ``match_orientation``, ``match_q_value``).
    logos
        PNG logos keyed by filter name.
    match_logos
        PNG logos of each filter's best match, keyed by filter name.
    influence
        PNG bar chart of filter influence, or None.
    maps
        ``(label, PNG)`` example mutation maps.
    info
        Facts listed in the summary.
    maps_note
        Shown when there are no maps.
    q_threshold
        q-value under which a filter counts as matched.
    extra_sections
        HTML sections inserted after the filter table.

    Returns
    -------
    str
        The document.
    """
    matched = int((table["match_q_value"] < q_threshold).sum())
    facts = "".join(f"<li>{escape(k)}: {escape(v)}</li>" for k, v in info.items())
    summary = section(
        "Summary",
        f"<ul>{facts}<li>filters: {len(table)}; matching a known motif at q &lt; {q_threshold}: {matched} "
        f"({matched / max(1, len(table)):.0%})</li></ul>",
        '<p class="note">Each filter\'s matrix counts the bases of every window that activates it over '
        "the chosen fraction of its maximum (or its exponentiated kernel). Matches: TomTom (memelite) "
        "against the targets, on the filter's informative core; q-values by Benjamini-Hochberg over the "
        "targets. Influence: mean drop of the predictions when the filter is zeroed (over all tasks, "
        "and for the task it supports most). Click a column header to sort.</p>")
    headers = ["filter", "logo", "best match logo", "consensus", "information (bits)", "sites", "influence",
               "top task", "top task influence", "match id", "match name", "strand", "q-value"]
    parts = [summary, section("Filters", sortable_table(headers, _motif_rows(table, logos, match_logos),
                                                        table_id="motifs"))]
    if influence is not None:
        chart = img_tag(influence, "filter influence")
        parts.append(section("Filter influence", f'<div class="figure">{chart}</div>'))
    map_parts = [f'<div class="figure"><p>{escape(name)}</p>{img_tag(png, f"mutation map of {name}")}</div>'
                 for name, png in maps]
    if maps_note and not maps:
        map_parts.append(f'<p class="note">{escape(maps_note)}</p>')
    parts.append(section("Example mutation maps", *map_parts))
    return page("seqcnn motif report", [*parts[:2], *extra_sections, *parts[2:]])


def attribution_section(table: pd.DataFrame, logos: dict[str, bytes], match_logos: dict[str, bytes], *,
                        n_sequences: int) -> str:
    """Section of seqlet motifs from ISM maps.

    Parameters
    ----------
    table
        One row per seqlet motif (``motif``, ``consensus``, ``seqlets``, ``match_id``, ``match_name``,
        ``match_q_value``).
    logos, match_logos
        PNG logos of each motif and of its best match, keyed by motif name.
    n_sequences
        Sequences the seqlets came from.

    Returns
    -------
    str
        The section's HTML.
    """
    rows = []
    for rec in table.itertuples(index=False):
        own, match = logos.get(rec.motif), match_logos.get(rec.motif)
        rows.append([
            Cell(escape(rec.motif), sort=rec.motif.removeprefix("seqlet"), numeric=True),
            Cell(img_tag(own, f"logo of {rec.motif}") if own else "", sort=rec.consensus),
            Cell(img_tag(match, f"logo of {rec.match_id}") if match else "", sort=rec.match_name or ""),
            Cell(f"<code>{escape(rec.consensus)}</code>", sort=rec.consensus), text_cell(int(rec.seqlets)),
            text_cell(rec.match_id or ""), text_cell(rec.match_name or ""),
            text_cell(float(rec.match_q_value)),
        ])
    headers = ["motif", "logo", "best match logo", "consensus", "seqlets", "match id", "match name",
               "q-value"]
    note = (f'<p class="note">Seqlets (high-importance stretches) of in-silico mutagenesis maps of '
            f"{n_sequences} sequences, clustered by the similarity of their contribution matrices.</p>")
    body = sortable_table(headers, rows, table_id="attribution") if rows else "<p>No seqlet clusters.</p>"
    return section("Motifs from attributions", note, body)


def modisco_section(table: pd.DataFrame, logos: dict[str, bytes], cwm_logos: dict[str, bytes],
                    match_logos: dict[str, bytes], *, note: str) -> str:
    """Section of TF-MoDISco patterns: each pattern's CWM and PWM logos beside its best match.

    Parameters
    ----------
    table
        One row per pattern (``pattern``, ``seqlets``, ``consensus``, ``contribution``, ``match_id``,
        ``match_name``, ``match_q_value``).
    logos, cwm_logos, match_logos
        PNG logos keyed by pattern name: its core's PWM, its CWM, and its best match.
    note
        What the patterns were found in (plain text, escaped here).

    Returns
    -------
    str
        The section's HTML (table id ``modisco``).
    """
    rows = []
    for rec in table.itertuples(index=False):
        images = [(cwm_logos.get(rec.pattern), "contribution weights"), (logos.get(rec.pattern), "logo"),
                  (match_logos.get(rec.pattern), f"logo of {rec.match_id}")]
        rows.append([Cell(escape(rec.pattern), sort=rec.pattern),
                     *(Cell(img_tag(png, f"{alt} of {rec.pattern}") if png else "") for png, alt in images),
                     Cell(f"<code>{escape(rec.consensus)}</code>", sort=rec.consensus),
                     text_cell(int(rec.seqlets)), text_cell(float(rec.contribution)),
                     text_cell(rec.match_id or ""), text_cell(rec.match_name or ""),
                     text_cell(float(rec.match_q_value))])
    headers = ["pattern", "CWM", "logo", "best match logo", "consensus", "seqlets", "contribution",
               "match id", "match name", "q-value"]
    body = sortable_table(headers, rows, table_id="modisco") if rows else "<p>No patterns found.</p>"
    return section("TF-MoDISco patterns", f'<p class="note">{escape(note)}</p>', body)
