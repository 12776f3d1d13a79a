"""Read an HTML response the way a person (or a browser submitting a form) would.

Standard library only: visible text, flash messages, the error shown next to a
field, and the values a browser would submit for a form.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
         "track", "wbr"}


@dataclass
class Form:
    action: str | None
    method: str
    values: dict[str, str] = field(default_factory=dict)
    selects: dict[str, list[str]] = field(default_factory=dict)  # name -> option values


class _PageParser(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.flashes: list[str] = []
        self.errors: dict[str, str] = {}
        self.forms: list[Form] = []
        self._form: Form | None = None
        self._select: tuple[str, list[tuple[str, bool]]] | None = None
        self._option: list | None = None
        self._textarea: str | None = None
        self._capture: list[tuple[str, list[str]]] = []  # (kind, chunks)

    # -- structure
    def handle_starttag(self, tag, attrs):
        a = {k: (v if v is not None else "") for k, v in attrs}
        if tag not in _VOID:
            self.stack.append((tag, a))
        classes = a.get("class", "").split()
        if tag == "p" and "flash" in classes:
            self._capture.append(("flash", []))
        elif tag == "p" and "error" in classes and a.get("id", "").endswith("-error"):
            self._capture.append(("error:" + a["id"][: -len("-error")], []))
        if tag == "form":
            self._form = Form(action=a.get("action"), method=a.get("method", "get").lower())
            self.forms.append(self._form)
        elif tag == "input" and self._form is not None and a.get("name"):
            kind = a.get("type", "text").lower()
            if kind in {"checkbox", "radio"}:
                if "checked" in a:
                    self._form.values[a["name"]] = a.get("value", "on")
            elif kind not in {"submit", "button", "file", "image", "reset"}:
                self._form.values[a["name"]] = a.get("value", "")
        elif tag == "select" and self._form is not None:
            self._select = (a.get("name", ""), [])
        elif tag == "option" and self._select is not None:
            self._option = [a.get("value"), "selected" in a, ""]
        elif tag == "textarea" and self._form is not None:
            self._textarea = a.get("name", "")
            self._form.values[self._textarea] = ""

    def handle_endtag(self, tag):
        if tag == "option" and self._option is not None and self._select is not None:
            value, selected, label = self._option
            self._select[1].append((label.strip() if value is None else value, selected))
            self._option = None
        elif tag == "select" and self._select is not None and self._form is not None:
            name, options = self._select
            self._form.selects[name] = [v for v, _ in options]
            chosen = [v for v, sel in options if sel] or [v for v, _ in options[:1]]
            if chosen:
                self._form.values[name] = chosen[0]
            self._select = None
        elif tag == "textarea":
            self._textarea = None
        elif tag == "form":
            self._form = None
        if tag == "p" and self._capture:
            kind, chunks = self._capture.pop()
            text = _squash(" ".join(chunks))
            if kind == "flash":
                self.flashes.append(text)
            else:
                self.errors[kind.split(":", 1)[1]] = text
        while self.stack:
            open_tag, _ = self.stack.pop()
            if open_tag == tag:
                break

    def handle_data(self, data):
        if self._option is not None:
            self._option[2] += data
        if self._textarea is not None and self._form is not None:
            self._form.values[self._textarea] += data
        if any(t in {"script", "style", "head", "title"} for t, _ in self.stack):
            return
        self.text.append(data)
        for _, chunks in self._capture:
            chunks.append(data)


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _parse(response_or_html) -> _PageParser:
    html = response_or_html
    if not isinstance(html, str):
        html = response_or_html.get_data(as_text=True)
    parser = _PageParser()
    parser.feed(html)
    parser.close()
    return parser


def visible_text(response_or_html) -> str:
    """The text a reader sees in the body (no tags, no attribute values, no <title>)."""
    return _squash(" ".join(_parse(response_or_html).text))


def flashes(response_or_html) -> list[str]:
    return _parse(response_or_html).flashes


def field_error(response_or_html, field_id: str) -> str | None:
    """The error printed next to the form field with this id (None if there is none)."""
    return _parse(response_or_html).errors.get(field_id)


def forms(response_or_html) -> list[Form]:
    return _parse(response_or_html).forms


def main_form(response_or_html) -> Form:
    """The page's form that has a password, email or name field (not the header forms)."""
    for form in forms(response_or_html):
        if {"email", "name", "current_password", "password"} & set(form.values):
            return form
    raise AssertionError("no main form on this page")
