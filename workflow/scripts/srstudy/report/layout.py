"""How a page of tables is written: its cells' numbers, and the page as Markdown or as a
self-contained HTML page (the Snakemake report's). A table is a dict: ``group`` and
``title`` (a section, one heading per run of equal groups), ``subtitle``, ``header`` and
``rows`` (lists of cell strings); ``**bold**`` and ```code``` in a cell are kept in HTML.

The comparison tables, the run summary, the cross-validation tables and the front page
share it; their own wording lives with each of them, so a changed footnote reruns only
the jobs that write it.
"""

import html
import math
import re


def fmt(value, signed: bool = False, digits: int = 3) -> str:
    """3 decimals (or ``digits``); '–' for a missing value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float) and math.isinf(value):
        return "inf"
    text = f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"
    zero = f"{0:.{digits}f}"
    return zero if text in (f"+{zero}", f"-{zero}") else text


def fmt_interval(value, low, high, digits: int = 3, signed: bool = False) -> str:
    """``0.123 [-0.050, 0.300]``: a value with its interval; the value alone where there
    is none (a missing or NaN bound)."""
    text = fmt(value, signed, digits)
    if low is None or math.isnan(low):
        return text
    return f"{text} [{fmt(low, signed, digits)}, {fmt(high, signed, digits)}]"


def to_markdown(tables: list[dict], heading: str, notes: list[str]) -> str:
    lines = [f"# {heading}", ""]
    for note in notes:
        lines += [note, ""]
    current = None
    for table in tables:
        if table["group"] != current:
            lines += [f"## {table['title']}", ""]
            current = table["group"]
        lines += [f"### {table['subtitle']}", ""]
        lines.append("| " + " | ".join(table["header"]) + " |")
        lines.append("|" + "|".join(["---"] + ["---:"] * (len(table["header"]) - 1)) + "|")
        lines += ["| " + " | ".join(row) + " |" for row in table["rows"]]
        lines.append("")
    return "\n".join(lines)


def to_html(tables: list[dict], heading: str, notes: list[str]) -> str:
    """A self-contained HTML page of the same tables (for the Snakemake report)."""

    def cell(text: str, tag: str = "td") -> str:
        text = html.escape(text)
        text = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", text)
        text = re.sub(r"`(.+?)`", r"<code>\1</code>", text)
        return f"<{tag}>{text}</{tag}>"

    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(heading)}</title><style>",
        "body{font-family:sans-serif;margin:1em}table{border-collapse:collapse;margin-bottom:1.5em}",
        "td,th{border:1px solid #bbb;padding:2px 8px;text-align:right}td:first-child{text-align:left}",
        "th{background:#eee}</style></head><body>",
        f"<h1>{html.escape(heading)}</h1>",
        *(cell(note, "p") for note in notes),
    ]
    current = None
    for table in tables:
        if table["group"] != current:
            parts.append(f"<h2>{html.escape(table['title'])}</h2>")
            current = table["group"]
        parts.append(cell(table["subtitle"], "h3"))
        parts.append("<table><tr>" + "".join(cell(h, "th") for h in table["header"]) + "</tr>")
        parts += ["<tr>" + "".join(cell(c) for c in row) + "</tr>" for row in table["rows"]]
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts)
