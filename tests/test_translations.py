"""The Chinese catalogue is complete: every marked string has a translation.

Strings are extracted from the source the same way `make i18n-extract` does, so a
new `_("…")` without a Chinese translation fails here (this is `make i18n-check`).
"""

from __future__ import annotations

import re
from io import BytesIO

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po

from core import ROOT

SOURCES = ["core", "org", "surveys", "feedback", "evaluations", "templates"]
KEYWORDS = {
    "_": None,
    "gettext": None,
    "ngettext": (1, 2),
    "lazy_gettext": None,
    "_l": None,
    "lazy_ngettext": (1, 2),
}
METHOD_MAP = [("**.py", "python"), ("**.html", "jinja2")]
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]|%[sd]")

PO = ROOT / "translations" / "zh_CN" / "LC_MESSAGES" / "messages.po"
MO = PO.with_suffix(".mo")


def extracted_messages() -> set[str | tuple[str, str]]:
    found = set()
    for source in SOURCES:
        path = ROOT / source
        if not path.exists():
            continue
        items = extract_from_dir(str(path), METHOD_MAP, keywords=KEYWORDS)
        for _filename, _lineno, message, _comments, _context in items:
            found.add(message)
    return found


@pytest.fixture(scope="module")
def catalog():
    with PO.open("rb") as fh:
        return read_po(fh, locale="zh_CN")


def _key(message):
    return message[0] if isinstance(message, tuple) else message


def test_every_marked_string_has_a_chinese_translation(catalog):
    missing = []
    for message in sorted(extracted_messages(), key=lambda m: str(_key(m))):
        entry = catalog.get(_key(message))
        if entry is None or entry.fuzzy:
            missing.append(_key(message))
            continue
        strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        if not all(s.strip() for s in strings):
            missing.append(_key(message))
    assert not missing, (
        f"{len(missing)} strings have no Chinese translation (run `make i18n` and "
        f"translate them in {PO.relative_to(ROOT)}):\n  " + "\n  ".join(map(repr, missing[:50]))
    )


def test_translations_keep_the_placeholders(catalog):
    wrong = []
    for entry in catalog:
        if not entry.id or not entry.string:
            continue
        ids = entry.id if isinstance(entry.id, tuple) else (entry.id,)
        strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        wanted = set(PLACEHOLDER.findall(ids[0]))
        for s in strings:
            if set(PLACEHOLDER.findall(s)) != wanted:
                wrong.append((ids[0], s))
    assert not wrong, f"placeholders differ: {wrong}"


def test_compiled_catalogue_is_up_to_date(catalog):
    """The committed .mo matches the .po (run `make i18n-compile` after editing)."""
    with MO.open("rb") as fh:
        compiled = read_mo(fh)
    fresh = BytesIO()
    write_mo(fresh, catalog)
    fresh.seek(0)
    expected = read_mo(fresh)
    def entries(catalogue):
        return {
            tuple(m.id) if isinstance(m.id, list | tuple) else m.id: (
                tuple(m.string) if isinstance(m.string, list | tuple) else m.string
            )
            for m in catalogue
            if m.id
        }

    have, want = entries(compiled), entries(expected)
    assert have == want, "translations/zh_CN/.../messages.mo is stale: run `make i18n-compile`"
