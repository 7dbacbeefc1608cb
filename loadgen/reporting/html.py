"""One self-contained HTML page: inline CSS and SVG figures, no script, no external reference.

:func:`page` wraps sections; the table helpers escape every value.  The report (report_page.py)
and ``compare`` (compare_page.py) build their sections with these.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape
from typing import Any

from collectors.histograms import PERCENTILES
from loadgen.reporting.ci import ci_key
from loadgen.reporting.figures import Rendered

CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:2em auto;max-width:1100px;
color:#222;line-height:1.4;padding:0 1em}
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.2em;margin-top:1.8em;border-bottom:1px solid #ddd}
h3{font-size:1em;margin:1.2em 0 .2em}
table{border-collapse:collapse;margin:.5em 0;font-size:.85em}
th,td{border:1px solid #ddd;padding:.25em .5em;text-align:right;vertical-align:top}
th{background:#f5f5f5}td.l,th.l{text-align:left}
.ci{display:block;color:#777;font-size:.85em}.few{color:#b26a00}
.pass{color:#1b5e20;font-weight:600}.fail{color:#b71c1c;font-weight:600}.warn{color:#b26a00}
.badge{display:inline-block;padding:.2em .6em;border-radius:4px;color:#fff;font-weight:600}
.b0{background:#2e7d32}.b1{background:#c62828}.b3{background:#ef6c00}
.reading{color:#444;margin:.1em 0 .4em}figure{margin:0 0 1.5em}figure svg{max-width:100%;height:auto}
.muted{color:#777;font-size:.85em}
"""


def page(title: str, sections: Iterable[str]) -> str:
    body = "\n".join(sections)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{escape(title)}</title>"
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
        "img-src data:\">"
        f"<style>{CSS}</style></head><body>\n{body}\n</body></html>\n"
    )


def fmt(v: Any, digits: int = 1) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], left: int = 1, raw: bool = False) -> str:
    """A table; the first ``left`` columns left-aligned.  ``raw``: cells are trusted HTML."""
    def cell(tag: str, i: int, v: Any) -> str:
        cls = ' class="l"' if i < left else ""
        text = str(v) if raw else escape(fmt(v))
        return f"<{tag}{cls}>{text}</{tag}>"

    head = "".join(cell("th", i, escape(h) if raw else h) for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(cell("td", i, v) for i, v in enumerate(r)) + "</tr>" for r in rows)
    thead = f"<thead><tr>{head}</tr></thead>" if any(headers) else ""
    return f"<table>{thead}<tbody>{body}</tbody></table>"


def latency_cell(block: dict[str, Any], p: float) -> str:
    """Trusted HTML: value, then its interval on a second line; too few samples marked."""
    key = f"p{p:g}".replace(".", "_")
    v = block.get(key + "_ms")
    if v is None:
        return "–"
    ci = block.get(ci_key(p))
    if not ci:
        return escape(f"{v:.1f}")
    lo, hi = ci
    if hi is None:
        return (f'<span class="few" title="too few samples to bound">{v:.1f}*</span>'
                f'<span class="ci">{fmt(lo)}–? too few samples</span>')
    return f'{v:.1f}<span class="ci">{fmt(lo)}–{fmt(hi)}</span>'


def latency_table(blocks: dict[str, dict[str, Any]], metrics: Sequence[str]) -> str:
    """Rows phase x metric: count and every percentile with its interval."""
    rows = []
    for name, b in blocks.items():
        for m in metrics:
            lb = (b.get("latency") or {}).get(m) or {}
            if not lb.get("count"):
                continue
            rows.append([escape(name), escape(m), str(lb["count"]), *(latency_cell(lb, p) for p in PERCENTILES)])
    return table(["phase", "metric", "n", *(f"p{p:g} (ms)" for p in PERCENTILES)], rows, left=2, raw=True)


def figure(r: Rendered) -> str:
    return (f'<figure id="fig-{escape(r.key)}" data-points="{r.points}"><h3>{escape(r.title)}</h3>'
            f'<p class="reading">{escape(r.reading)}</p>{r.svg}</figure>')


__all__ = ["CSS", "figure", "fmt", "latency_cell", "latency_table", "page", "table"]
