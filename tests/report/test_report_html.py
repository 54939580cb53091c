"""Self-contained HTML: embedded images only, escaped text, a sortable table; checked in headless Chromium."""

from __future__ import annotations

import base64
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from seqcnn.report.html import Cell, page, render_motif_report, sortable_table, text_cell, write_html
from seqcnn.report.logos import logo_png


class Resources(HTMLParser):
    """Collects every URL-bearing attribute and tag of a document."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str, str]] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href", "srcset", "data", "poster", "action") and value is not None:
                self.urls.append((tag, name, value))


def assert_self_contained(document: str) -> int:
    """Every resource is an embedded PNG that decodes; no link/iframe/external script. Returns #images."""
    parser = Resources()
    parser.feed(document)
    assert not {"link", "iframe", "object", "embed", "base"} & set(parser.tags)
    n_images = 0
    for tag, name, value in parser.urls:
        assert (tag, name) == ("img", "src"), (tag, name, value[:60])
        assert value.startswith("data:image/png;base64,")
        assert base64.b64decode(value.split(",", 1)[1], validate=True)[:8] == b"\x89PNG\r\n\x1a\n"
        n_images += 1
    assert "http://" not in document and "https://" not in document
    return n_images


def synthetic_report() -> str:
    """A motif report page from a hand-made table of three filters (one without a match)."""
    table = pd.DataFrame({
        "filter": ["filter0", "filter1", "filter2"], "consensus": ["GATAA", "CACGTG", "NNNNN"],
        "information_content": [8.5, 10.25, 0.3], "sites": [120, 40, 0], "influence": [0.2, 0.05, -0.01],
        "match_id": ["MA0035.5", "MA0058.4", None], "match_name": ["GATA1", "MAX", None],
        "match_orientation": ["+", "-", None], "match_q_value": [1e-4, 0.01, np.nan],
    })
    logos = {f"filter{i}": logo_png(np.eye(4)[[i, (i + 1) % 4, 2]]) for i in range(3)}
    match_logos = {"filter0": logo_png(np.eye(4)[[2, 0, 3]]), "filter1": logo_png(np.eye(4)[[1, 0]])}
    info = {"model": "koo_cnn <test>", "sequences": 10}
    maps = [("seq<1>", logo_png(np.eye(4)))]
    return render_motif_report(table, logos, match_logos, logo_png(np.eye(4)), maps, info=info)


def test_motif_report_page_is_self_contained_and_escaped():
    document = synthetic_report()
    assert assert_self_contained(document) == 3 + 2 + 1 + 1
    assert "koo_cnn &lt;test&gt;" in document and "seq&lt;1&gt;" in document
    assert 'id="motifs"' in document and document.count("<tr>") == 4
    assert "matching a known motif at q &lt; 0.05: 2 (67%)" in document


def test_table_cells_escape_and_carry_sort_keys():
    html = sortable_table(["a", "b<"], [[text_cell("<x>"), text_cell(0.000123456)],
                                        [Cell("<i>ok</i>", sort="k"), text_cell(float("nan"))]], table_id="t")
    assert "&lt;x&gt;" in html and "b&lt;" in html and "<i>ok</i>" in html
    assert 'data-sort="0.000123456"' in html and ">0.000123<" in html
    assert 'class="num" data-sort=""' in html  # NaN: empty, sorts with text after numbers


def test_write_html_is_atomic(tmp_path):
    out = write_html(page("t", ["<p>x</p>"]), tmp_path / "r.html")
    assert out.read_text().startswith("<!DOCTYPE html>")
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]


# Appended to a copy of the report: checks images and sorting after load, writes the verdict into the DOM.
@pytest.mark.slow
def test_report_opens_in_headless_chromium(tmp_path, open_in_chromium):
    path = write_html(synthetic_report(), tmp_path / "report.html")
    marker, console = open_in_chromium(path, tmp_path, column=4)  # information (bits)
    assert console == ""
    assert marker == "images=true;n=7;order=10.2,8.5,0.3"
