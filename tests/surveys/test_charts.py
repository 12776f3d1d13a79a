"""SVG charts: well-formed, text kept as text, hostile labels inert, safe to inline."""

from __future__ import annotations

import threading
from xml.etree import ElementTree

import pytest

from surveys import charts
from surveys.charts import Bar, bar_chart, clean_svg, stacked_chart, timeline_chart

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = ["<script>alert(1)</script>", '"><svg onload=alert(1)>', "x' onmouseover='alert(1)"]


def parse(svg: str) -> ElementTree.Element:
    return ElementTree.fromstring(str(svg))  # noqa: S314 - our own output


def texts(root) -> list[str]:
    return ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]


def assert_inert(root) -> None:
    """No element or attribute that could run code or load anything."""
    for element in root.iter():
        tag = element.tag.removeprefix(SVG)
        assert tag not in {"script", "foreignObject", "style", "a", "image", "iframe"}, tag
        for name, value in element.attrib.items():
            assert not name.lower().startswith("on"), name
            assert "javascript:" not in value.lower()
            if name in ("href", "{http://www.w3.org/1999/xlink}href"):
                assert value.startswith("#")


@pytest.fixture(autouse=True)
def _fresh_cache():
    charts.clear_cache()


def test_a_bar_chart_is_well_formed_svg_with_its_labels_as_text():
    svg = bar_chart([Bar("Phone", 12, "12 (40%)"), Bar("非常满意", 18, "18 (60%)")],
                    title="How did you contact us?", axis_label="Respondents")
    root = parse(svg)
    assert root.tag == f"{SVG}svg" and root.get("role") == "img"
    title = root.find(f"{SVG}title")
    assert title.text == "How did you contact us?"
    assert root.get("aria-labelledby") == title.get("id")
    labels = texts(root)
    assert "Phone" in labels and "非常满意" in labels and "12 (40%)" in labels
    assert "Respondents" in labels


def test_the_chart_scales_with_its_container():
    root = parse(bar_chart([Bar("A", 1)], title="t"))
    assert "width" not in root.attrib and "height" not in root.attrib
    width, height = map(float, root.get("viewBox").split()[2:])
    assert width > 0 and height > 0
    assert "chart" in root.get("class").split()


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_labels_are_escaped_text_never_markup(hostile):
    svg = str(bar_chart([Bar(hostile, 3, hostile)], title=hostile, axis_label=hostile))
    root = parse(svg)
    assert_inert(root)
    assert hostile in texts(root)  # shown exactly as typed, as text
    assert root.find(f"{SVG}title").text == hostile
    assert "<script" not in svg and "<svg onload" not in svg
    assert svg.count("<svg") == 1


def test_hostile_matrix_rows_and_legend_entries_are_escaped():
    svg = stacked_chart([HOSTILE[0], HOSTILE[1]], ["<i>1</i>", "2"],
                        [[0.25, 0.75], [0.5, 0.5]], title="Grid")
    root = parse(svg)
    assert_inert(root)
    assert {HOSTILE[0], HOSTILE[1], "<i>1</i>"} <= set(texts(root))
    assert "<script" not in str(svg) and "<i>" not in str(svg)


def test_matplotlib_metadata_comments_and_styles_are_stripped():
    svg = str(timeline_chart([1, 2, 5], ["1 Jun", "2 Jun", "3 Jun"], title="Over time",
                             target=10))
    assert "<!--" not in svg and "<?xml" not in svg and "DOCTYPE" not in svg
    assert "metadata" not in svg and "matplotlib" not in svg.lower()
    assert "rdf:" not in svg and "style=" not in svg and "<style" not in svg
    root = parse(svg)
    assert {"1 Jun", "3 Jun"} <= set(texts(root))


def test_text_uses_the_chinese_font_list_and_is_not_turned_into_paths():
    root = parse(bar_chart([Bar("服务很好", 2)], title="t"))
    family = next(t for t in root.iter(f"{SVG}text") if "".join(t.itertext()) == "服务很好")
    assert family.get("font-family").startswith("'Noto Sans CJK SC'")
    assert "PingFang SC" in family.get("font-family")
    assert "Microsoft YaHei" in family.get("font-family")


def test_ids_are_unique_per_chart_and_every_reference_resolves():
    first = parse(bar_chart([Bar("A", 1), Bar("B", 2)], title="one"))
    second = parse(bar_chart([Bar("A", 1), Bar("B", 3)], title="two"))
    for root in (first, second):
        ids = {e.get("id") for e in root.iter() if e.get("id")}
        for element in root.iter():
            for value in element.attrib.values():
                if value.startswith("url(#"):
                    assert value[5:-1] in ids
            if element.get("href"):
                assert element.get("href")[1:] in ids
    first_ids = {e.get("id") for e in first.iter() if e.get("id")}
    second_ids = {e.get("id") for e in second.iter() if e.get("id")}
    assert not first_ids & second_ids


def test_dollar_signs_are_text_not_mathematics():
    root = parse(bar_chart([Bar("costs $5 and $10", 1)], title="t"))
    assert "costs $5 and $10" in texts(root)


def test_the_sanitiser_drops_scripts_handlers_and_external_references():
    crafted = """<?xml version="1.0"?>
    <!-- comment -->
    <svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"
         width="100pt" height="50pt" viewBox="0 0 100 50" onload="alert(1)">
      <metadata>secret</metadata>
      <style>*{fill:red}</style>
      <script>alert(2)</script>
      <g onclick="alert(3)" style="fill: url(http://evil.example/x); stroke: #000">
        <path d="M 0 0 L 1 1" style="fill: #fff; behavior: url(x.htc)"/>
        <use xlink:href="http://evil.example/sprite.svg#a"/>
        <text x="1" y="2" style="font: 10px 'Evil'">hello &lt;b&gt;</text>
        <foreignObject><div xmlns="http://www.w3.org/1999/xhtml">x</div></foreignObject>
        <a href="javascript:alert(4)"><text>link</text></a>
      </g>
    </svg>"""
    svg = clean_svg(crafted, title="<b>t</b>", uid="chart-test")
    root = parse(svg)
    assert_inert(root)
    assert "alert" not in svg and "evil" not in svg and "secret" not in svg
    assert texts(root) == ["hello <b>"]
    assert root.find(f"{SVG}title").text == "<b>t</b>"
    path = next(root.iter(f"{SVG}path"))
    assert path.get("fill") == "#fff" and "behavior" not in path.attrib
    with pytest.raises(ValueError):
        clean_svg(crafted, title="t", uid='x" onload="alert(1)')


def test_rendering_from_several_threads_gives_the_same_charts():
    def draw(i):
        return str(bar_chart([Bar(f"Option {i}", i + 1, str(i + 1))], title=f"Chart {i}"))

    serial = [draw(i) for i in range(8)]
    charts.clear_cache()
    found: dict[int, str] = {}
    errors = []

    def work(i):
        try:
            found[i] = draw(i)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert [found[i] for i in range(8)] == serial


def test_a_chart_drawn_twice_comes_from_the_cache(monkeypatch):
    bars = [Bar("A", 1)]
    first = bar_chart(bars, title="t")
    monkeypatch.setattr(charts, "_matplotlib_svg", lambda draw: pytest.fail("drawn again"))
    assert bar_chart(bars, title="t") == first
