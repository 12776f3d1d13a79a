"""SVG charts for the campaign dashboard and the results, drawn with matplotlib and made
safe to insert inline into a page.

* Drawn on a :class:`matplotlib.figure.Figure` (never pyplot's global state) with the
  SVG backend and ``svg.fonttype = "none"``: labels stay ``<text>``, so Chinese is drawn
  by the browser's fonts and can be selected, searched and read by screen readers.
* matplotlib's output is parsed and rebuilt from an allow-list of SVG elements and
  attributes (:func:`clean_svg`): no metadata, comments, ``<style>`` or scripts; the
  ``style`` attributes become presentation attributes (the Content-Security-Policy
  forbids inline styles); ids get a per-chart prefix so several charts share a page;
  every text is escaped by the serializer. The root has a ``viewBox`` but no pixel
  size (CSS gives it ``max-width: 100%``), ``role="img"`` and a ``<title>``.
* Rendering takes a lock (matplotlib's ``rcParams`` are process-wide) and results are
  cached per process by a hash of everything drawn.

Every chart on a page sits beside a table with the same numbers: the chart is a
picture of the table, never the only place a number is shown.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
import threading
import unicodedata
import warnings
import xml.etree.ElementTree as ET
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

from markupsafe import Markup

__all__ = [
    "FONT_FAMILY",
    "Bar",
    "bar_chart",
    "clean_svg",
    "stacked_chart",
    "timeline_chart",
]

SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"

#: What the browser is asked to draw the chart's text with.
FONT_FAMILY = (
    "'Noto Sans CJK SC', 'Noto Sans CJK', 'PingFang SC', 'Microsoft YaHei', "
    "'DejaVu Sans', sans-serif"
)
# What matplotlib measures the text with to lay the chart out (the first one installed
# that has the glyph). Noto's collection file registers as "Noto Sans CJK JP" with
# matplotlib, whose Chinese glyphs have the same widths.
_LAYOUT_FONTS = [
    "Noto Sans CJK SC",
    "Noto Sans CJK JP",
    "Noto Sans CJK",
    "PingFang SC",
    "Microsoft YaHei",
    "WenQuanYi Zen Hei",
    "DejaVu Sans",
]

TONES = {
    "brand": "#1d4ed8",
    "good": "#047857",
    "neutral": "#9ca3af",
    "bad": "#b91c1c",
}
INK = "#1f2937"
MUTED = "#6b7280"
GRID = "#e5e7eb"
WIDTH_IN = 6.4  # inches at 72 units each: the viewBox is 460 units wide

CACHED = 512
_cache: OrderedDict[str, str] = OrderedDict()
_cache_lock = threading.Lock()
_render_lock = threading.Lock()


@dataclass(frozen=True)
class Bar:
    """One bar: its label (already in the reader's language), its length, the text
    printed at its end (e.g. ``"12 (40 %)"``) and its colour (a key of ``TONES``)."""

    label: str
    value: float
    text: str = ""
    tone: str = "brand"


# --------------------------------------------------------------------- public charts


def bar_chart(bars: Sequence[Bar], *, title: str, axis_label: str = "",
              axis_max: float | None = None) -> Markup:
    """Horizontal bars, first bar on top; ``axis_max`` fixes the end of the value axis
    (e.g. 100 for percentages)."""
    payload = {
        "bars": [asdict(b) for b in bars],
        "title": title,
        "axis_label": axis_label,
        "axis_max": axis_max,
    }
    return _render("bars", payload, title, lambda fig: _draw_bars(fig, payload))


def stacked_chart(rows: Sequence[str], segments: Sequence[str],
                  shares: Sequence[Sequence[float]], *, title: str) -> Markup:
    """One 100 % bar per row (e.g. a matrix item) split into ``segments`` (the points of
    the scale, low to high); ``shares[row][segment]`` are fractions of the row."""
    payload = {
        "rows": list(rows),
        "segments": list(segments),
        "shares": [[float(s) for s in row] for row in shares],
        "title": title,
    }
    return _render("stacked", payload, title, lambda fig: _draw_stacked(fig, payload))


def timeline_chart(values: Sequence[float], tick_labels: Sequence[str], *, title: str,
                   axis_label: str = "", target: float | None = None) -> Markup:
    """A cumulative count over consecutive periods (days) as an area under a line.

    ``tick_labels[i]`` names period ``i`` (already formatted in the reader's locale); a
    few of them are shown under the axis. ``target`` draws a dashed line (e.g. the
    number invited).
    """
    payload = {
        "values": [float(v) for v in values],
        "ticks": list(tick_labels),
        "title": title,
        "axis_label": axis_label,
        "target": target,
    }
    return _render("timeline", payload, title, lambda fig: _draw_timeline(fig, payload))


# --------------------------------------------------------------------- drawing


def _columns(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in ("W", "F") else 1 for c in text)


def _label(text: str, width: int = 28, lines: int = 2) -> str:
    """A label wrapped to at most ``lines`` lines of about ``width`` columns (a Chinese
    character takes two; Latin text breaks between words), cut with an ellipsis: the
    table beside the chart has it in full."""
    tokens: list[str] = []
    for word in re.findall(r"\S+\s*", " ".join(str(text).split())):
        if _columns(word.rstrip()) > width or _columns(word) != len(word):
            tokens.extend(word)  # Chinese, or a very long word: break anywhere
        else:
            tokens.append(word)
    out, line = [], ""
    for token in tokens:
        if line and _columns((line + token).rstrip()) > width:
            out.append(line.rstrip())
            line = ""
        line += token
    out.append(line.rstrip())
    if len(out) > lines:
        out = out[:lines]
        out[-1] = out[-1][:-1].rstrip() + "…"
    return "\n".join(out)


FONT_PT = 9
# Average advance of one column of text in em: Latin letters run about half an em, a
# Chinese character a full em (two columns). The layout is computed from this rather
# than from the fonts matplotlib finds, since the browser draws the text with its own.
COLUMN_EM = 0.56


def _text_width(lines: Sequence[str]) -> float:
    """Estimated width in points of the widest of ``lines`` at the chart's font size."""
    return max((_columns(line) for line in lines), default=0) * COLUMN_EM * FONT_PT


def _place(fig, *, height: float, left: float, bottom: float, top: float = 8,
           right: float = 10) -> None:
    """Size the figure (points) and put the axes at the given margins (points)."""
    width = WIDTH_IN * 72
    fig.set_size_inches(WIDTH_IN, height / 72)
    fig.subplots_adjust(left=left / width, right=1 - right / width, bottom=bottom / height,
                        top=1 - top / height)


def _plain_axes(ax, *, value_axis: str) -> None:
    from matplotlib.ticker import MaxNLocator, ScalarFormatter

    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.spines["left"].set_color(MUTED)
    ax.spines["bottom"].set_color(MUTED)
    ax.tick_params(colors=INK, labelsize=FONT_PT)
    axis = ax.xaxis if value_axis == "x" else ax.yaxis
    formatter = ScalarFormatter(useOffset=False)
    formatter.set_scientific(False)
    axis.set_major_formatter(formatter)
    axis.set_major_locator(MaxNLocator(nbins=6, integer=True))
    ax.grid(axis=value_axis, color=GRID, linewidth=0.8)
    ax.set_axisbelow(True)


def _rows_layout(labels: Sequence[str]) -> tuple[list[list[str]], float, float]:
    """Wrapped row labels, the room they need left of the axes and the row height."""
    wrapped = [_label(label).split("\n") for label in labels]
    left = _text_width([line for lines in wrapped for line in lines]) + 14
    row = 30 if any(len(lines) > 1 for lines in wrapped) else 24
    return wrapped, left, row


def _row_labels(fig, ax, wrapped: list[list[str]]) -> None:
    """The name of each row left of the axes, right-aligned, one text per line: a
    single-line text keeps its alignment (``text-anchor``) whatever font the browser
    uses, where matplotlib would place the lines of a multi-line one itself."""
    from matplotlib.transforms import offset_copy

    ax.set_yticks(range(len(wrapped)), labels=[""] * len(wrapped))
    ax.tick_params(axis="y", length=0)
    ax.spines["left"].set_visible(False)
    base = ax.get_yaxis_transform()
    for row, lines in enumerate(wrapped):
        for index, line in enumerate(lines):
            shift = (len(lines) - 1) / 2 - index  # lines centred on the row
            where = offset_copy(base, fig=fig, x=-6, y=11 * shift, units="points")
            ax.text(0, row, line, transform=where, ha="right", va="center", fontsize=FONT_PT,
                    color=INK, clip_on=False)


def _draw_bars(fig, payload: dict) -> None:
    bars = payload["bars"]
    wrapped, left, row = _rows_layout([b["label"] for b in bars])
    bottom = 24 + (14 if payload["axis_label"] else 0)
    _place(fig, height=8 + bottom + row * max(len(bars), 1), left=left, bottom=bottom)
    ax = fig.add_subplot()
    positions = list(range(len(bars)))
    values = [b["value"] for b in bars]
    ax.barh(
        positions,
        values,
        height=0.62,
        color=[TONES.get(b["tone"], TONES["brand"]) for b in bars],
    )
    _plain_axes(ax, value_axis="x")
    _row_labels(fig, ax, wrapped)
    ax.set_ylim(len(bars) - 0.5, -0.5)  # first bar on top
    top = payload["axis_max"] or max([*values, 0]) or 1
    # Room for the text at the end of the longest bar.
    room = _text_width([b["text"] for b in bars]) + 8
    plot_width = WIDTH_IN * 72 - left - 10
    ax.set_xlim(0, top / max(0.35, 1 - room / plot_width))
    for position, bar in zip(positions, bars, strict=True):
        if bar["text"]:
            ax.annotate(bar["text"], (bar["value"], position), xytext=(4, 0),
                        textcoords="offset points", va="center", ha="left", fontsize=FONT_PT,
                        color=INK)
    if payload["axis_label"]:
        ax.set_xlabel(payload["axis_label"], fontsize=FONT_PT, color=MUTED)


def _segment_colours(count: int) -> list[str]:
    """Red (low) through grey to blue (high) — readable by the colour-blind too."""
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    cmap = colormaps["RdBu"]
    if count == 1:
        return [to_hex(cmap(0.8))]
    return [to_hex(cmap(0.12 + 0.76 * i / (count - 1))) for i in range(count)]


def _draw_stacked(fig, payload: dict) -> None:
    rows, segments, shares = payload["rows"], payload["segments"], payload["shares"]
    wrapped, left, row = _rows_layout(rows)
    columns = min(len(segments), 4)
    legend_rows = -(-len(segments) // columns) if segments else 0
    bottom = 24 + 14 + 6 + 14 * legend_rows
    _place(fig, height=8 + bottom + row * max(len(rows), 1), left=left, bottom=bottom)
    ax = fig.add_subplot()
    colours = _segment_colours(len(segments))
    start = [0.0] * len(rows)
    for index, name in enumerate(segments):
        widths = [100.0 * shares_of_row[index] for shares_of_row in shares]
        ax.barh(range(len(rows)), widths, left=start, height=0.62, color=colours[index],
                label=_label(name, 24, 1))
        dark = len(segments) > 2 and index in (0, len(segments) - 1)
        for r, width in enumerate(widths):
            if width >= 8:
                ax.text(start[r] + width / 2, r, f"{width:.0f}%", ha="center", va="center",
                        fontsize=FONT_PT - 1, color="#ffffff" if dark else INK)
        start = [a + b for a, b in zip(start, widths, strict=True)]
    _plain_axes(ax, value_axis="x")
    _row_labels(fig, ax, wrapped)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xlim(0, 100)
    ax.set_xlabel("%", fontsize=FONT_PT, color=MUTED)
    if segments:
        fig.legend(loc="lower center", bbox_to_anchor=(0.5, 0.0), ncols=columns,
                   frameon=False, fontsize=FONT_PT - 1)


def _draw_timeline(fig, payload: dict) -> None:
    values, ticks = payload["values"], payload["ticks"]
    top = max([*values, payload["target"] or 0, 1])
    number_width = _text_width([f"{int(top):,}"])
    left = number_width + 14 + (14 if payload["axis_label"] else 0)
    _place(fig, height=200, left=left, bottom=24, right=_text_width(ticks[-1:]) / 2 + 6)
    ax = fig.add_subplot()
    x = list(range(len(values)))
    if len(values) == 1:  # one day: a short flat line rather than a dot
        x, values, ticks = [-0.5, 0.5], values * 2, ticks * 2
    ax.fill_between(x, values, color=TONES["brand"], alpha=0.18, linewidth=0)
    ax.plot(x, values, color=TONES["brand"], linewidth=2)
    if payload["target"]:
        ax.axhline(payload["target"], color=MUTED, linewidth=1, linestyle=(0, (4, 3)))
    ax.set_ylim(0, top * 1.08)
    ax.set_xlim(x[0], x[-1])
    count = len(ticks)
    shown = sorted({round(i * (count - 1) / 4) for i in range(5)}) if count > 5 else range(count)
    ax.set_xticks([x[i] for i in shown], labels=[ticks[i] for i in shown])
    _plain_axes(ax, value_axis="y")
    if payload["axis_label"]:
        ax.set_ylabel(payload["axis_label"], fontsize=FONT_PT, color=MUTED)


# --------------------------------------------------------------------- rendering


def _render(kind: str, payload: dict, title: str, draw: Callable) -> Markup:
    digest = hashlib.sha256(
        json.dumps([kind, payload], sort_keys=True, ensure_ascii=False, default=str).encode()
    ).hexdigest()
    with _cache_lock:
        svg = _cache.get(digest)
        if svg is not None:
            _cache.move_to_end(digest)
            return Markup(svg)  # noqa: S704 - rebuilt from an allow-list by clean_svg
    raw = _matplotlib_svg(draw)
    svg = clean_svg(raw, title=title, uid=f"chart-{digest[:12]}")
    with _cache_lock:
        _cache[digest] = svg
        while len(_cache) > CACHED:
            _cache.popitem(last=False)
    return Markup(svg)  # noqa: S704 - rebuilt from an allow-list by clean_svg


def _matplotlib_svg(draw: Callable) -> bytes:
    import matplotlib

    matplotlib.use("Agg")  # no GUI toolkit, whatever the environment says
    from matplotlib.figure import Figure

    settings = {
        "svg.fonttype": "none",
        "svg.hashsalt": "orbit",  # the same chart gives the same ids
        "font.family": "sans-serif",
        "font.sans-serif": _LAYOUT_FONTS,
        "text.parse_math": False,  # "$5 and $10" is text, not mathematics
        "text.color": INK,
        "axes.unicode_minus": False,
    }
    # catch_warnings swaps process-wide state: it stays inside the lock.
    with _render_lock, matplotlib.rc_context(settings), warnings.catch_warnings():
        # Where no Chinese font is installed the layout (estimated anyway) goes on
        # without it; the browser draws the text with its own fonts.
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from")
        fig = Figure(dpi=72)
        draw(fig)
        out = io.BytesIO()
        fig.savefig(out, format="svg", metadata={"Date": None, "Creator": None},
                    transparent=True)
    return out.getvalue()


# matplotlib logs every font family of the list that is not installed (most of them
# on any one machine); the browser has its own fonts.
logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)


# --------------------------------------------------------------------- sanitising

_ELEMENTS = {
    "svg", "g", "path", "rect", "line", "polyline", "polygon", "circle", "ellipse",
    "text", "tspan", "defs", "clipPath", "use",
}
_GEOMETRY = {
    "d", "x", "y", "x1", "y1", "x2", "y2", "cx", "cy", "r", "rx", "ry", "width", "height",
    "points", "transform", "dx", "dy",
}
_PRESENTATION = {
    "fill", "fill-opacity", "fill-rule", "stroke", "stroke-width", "stroke-opacity",
    "stroke-linecap", "stroke-linejoin", "stroke-dasharray", "stroke-dashoffset",
    "stroke-miterlimit", "opacity", "font-size", "font-weight", "font-style",
    "text-anchor", "dominant-baseline", "clip-path", "clip-rule", "font-family",
}
_SAFE_VALUE = re.compile(r"^[#\w\s.,%()+\-]*$")
_LOCAL_URL = re.compile(r"^url\(#([\w.\-]+)\)$")


def _local(name: str) -> str:
    return name.rsplit("}", 1)[-1]


_DECIMALS = re.compile(r"(\d\.\d{2})\d+")
_NO_ROTATION = re.compile(r"^rotate\(-?0 [\d.\-]+ [\d.\-]+\)$")
_REFERENCE = re.compile(r"url\(#([\w.\-]+)\)|^#([\w.\-]+)$")


def _attribute(name: str, value: str, prefix: str, referenced: set[str]) -> tuple[str, str] | None:
    """The attribute as it may appear in the output, or ``None`` to drop it."""
    value = " ".join(value.split())
    if name == "font-family":
        return name, FONT_FAMILY
    if name == "id":
        # Only ids something refers to (clip paths, shapes reused by <use>).
        return (name, f"{prefix}-{value}") if value in referenced else None
    if name == "href":
        if re.fullmatch(r"#[\w.\-]+", value):
            return name, f"#{prefix}-{value[1:]}"
        return None
    if name not in _GEOMETRY and name not in _PRESENTATION:
        return None
    if "url(" in value:
        match = _LOCAL_URL.match(value)
        return (name, f"url(#{prefix}-{match.group(1)})") if match else None
    if not _SAFE_VALUE.match(value):
        return None
    if name in _GEOMETRY:
        if name == "transform" and _NO_ROTATION.match(value):
            return None
        value = _DECIMALS.sub(r"\1", value)  # a hundredth of a point is plenty
    return name, value


def _style(style: str) -> dict[str, str]:
    properties = {}
    for declaration in style.split(";"):
        name, _, value = declaration.partition(":")
        name, value = name.strip().lower(), value.strip()
        if name == "font":  # shorthand: "<size> <family>"
            size, _, _family = value.partition(" ")
            properties["font-size"] = size
            properties["font-family"] = FONT_FAMILY
        elif name and value:
            properties[name] = value
    return properties


def _copy(source: ET.Element, prefix: str, referenced: set[str]) -> ET.Element | None:
    tag = _local(source.tag)
    if tag not in _ELEMENTS or tag == "svg":
        return None
    target = ET.Element(tag)
    attributes: dict[str, str] = {}
    for name, value in source.attrib.items():
        local = _local(name)
        if local == "style":
            continue
        kept = _attribute(local, value, prefix, referenced)
        if kept:
            attributes[kept[0]] = kept[1]
    # A style declaration wins over the attribute of the same name, as in CSS.
    for name, value in _style(source.attrib.get("style", "")).items():
        kept = _attribute(name, value, prefix, referenced) if name in _PRESENTATION else None
        if kept:
            attributes[kept[0]] = kept[1]
    if tag in ("text", "tspan") and "font-family" not in attributes:
        attributes["font-family"] = FONT_FAMILY
    target.attrib.update(attributes)
    text_like = tag in ("text", "tspan")
    target.text = source.text if text_like else None
    for child in source:
        copied = _copy(child, prefix, referenced)
        if copied is not None:
            target.append(copied)
            copied.tail = child.tail if text_like else None
    if tag in ("g", "defs") and len(target) == 0:
        return None  # an empty group draws nothing
    return target


def _references(source: ET.Element) -> set[str]:
    found = set()
    for element in source.iter():
        for value in element.attrib.values():
            for match in _REFERENCE.finditer(value.strip()):
                found.add(match.group(1) or match.group(2))
    return found


def clean_svg(raw: bytes | str, *, title: str, uid: str) -> str:
    """``raw`` SVG rebuilt from an allow-list, ready to insert into an HTML page.

    Kept: shapes, groups, clip paths, ``<use>`` of a local id, text (escaped on output),
    geometry and presentation attributes with plain values (``style`` declarations
    become attributes). Dropped: everything else — metadata, comments, processing
    instructions, ``<style>``, scripts, event handlers, external references, ids that
    nothing refers to. Kept ids are prefixed with ``uid``; the root gets ``viewBox``
    (no width or height), ``role="img"`` and a ``<title>`` of ``title``.
    """
    if not re.fullmatch(r"[A-Za-z][\w\-]*", uid):
        raise ValueError(f"bad chart id {uid!r}")
    if isinstance(raw, str):
        raw = raw.encode("utf-8")
    # The stdlib parser neither fetches nor expands external entities.
    source = ET.fromstring(raw)  # noqa: S314 - our own matplotlib output
    if _local(source.tag) != "svg":
        raise ValueError("not an SVG document")
    referenced = _references(source)
    root = ET.Element("svg", {"xmlns": SVG_NS})
    view_box = source.attrib.get("viewBox", "")
    if re.fullmatch(r"[\d.\s\-]+", view_box):
        root.set("viewBox", " ".join(view_box.split()))
    root.set("class", "chart")
    root.set("role", "img")
    root.set("aria-labelledby", f"{uid}-title")
    root.set("focusable", "false")
    heading = ET.SubElement(root, "title", {"id": f"{uid}-title"})
    heading.text = str(title)
    for child in source:
        copied = _copy(child, uid, referenced)
        if copied is not None:
            root.append(copied)
    return ET.tostring(root, encoding="unicode", short_empty_elements=True)


def clear_cache() -> None:
    """Forget every rendered chart (tests)."""
    with _cache_lock:
        _cache.clear()
