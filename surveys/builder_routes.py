"""The questionnaire builder (admin only) and the respondent preview.

Every change is a small form posted to its own URL: the route checks the form, applies
one operation of ``surveys.builder`` to the draft document, saves the draft through
``services.save_draft`` and commits once, then redirects (POST-redirect-GET). A refused
change is rolled back and the page is shown again with the message next to the field.

Each form carries the revision of the document it was rendered from (``rev``), so a
change made on a stale page (another tab, the back button, a double click) is refused
instead of being applied to a document the admin did not see.

The builder works on the draft; when the questionnaire has none, its page offers to
make one, and a change posted anyway makes one from the latest published version.
"""

from __future__ import annotations

import contextlib
import dataclasses

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_login import current_user

from core.exceptions import NotFound, ServiceError
from core.extensions import db
from core.i18n import current_language, html_lang
from org.forms import ConfirmForm
from org.routes import admin_required
from surveys import builder, services
from surveys import definition as qdef
from surveys.builder_forms import (
    KIND_LABELS,
    OP_LABELS,
    ConditionForm,
    ConditionYamlForm,
    DeletePageForm,
    DimensionForm,
    ItemForm,
    MoveForm,
    MoveToPageForm,
    NewQuestionForm,
    OptionForm,
    PageForm,
    QuestionForm,
    ScaleForm,
    SettingsForm,
    TypeForm,
    type_label,
)

bp = Blueprint("builder", __name__, url_prefix="/questionnaires/<int:questionnaire_id>")

BLANK_CONDITION_ROWS = 2


# ----------------------------------------------------------------- plumbing


def _questionnaire(questionnaire_id: int):
    try:
        return services.get_questionnaire(current_user, questionnaire_id)
    except NotFound:
        abort(404)


def _document(questionnaire) -> dict:
    """The document the builder changes: the draft's, else the latest published one's."""
    version = questionnaire.draft or questionnaire.latest_published or questionnaire.current
    return version.document


def revision(document: dict) -> str:
    return services.document_sha256(document)[:16]


def _locale() -> str:
    """The admin's language as the documents spell it: ``en`` or ``zh_CN``."""
    return current_language()


def _field(form, name: str):
    """The field of ``form`` (or of its nested forms) called ``name`` without the prefix."""
    wanted = f"{form._prefix}{name}"

    def search(fields):
        for field in fields:
            if field.name == wanted:
                return field
            entries = getattr(field, "entries", None)
            if entries is not None:
                found = search(entries)
                if found is not None:
                    return found
            inner = getattr(field, "form", None)
            if inner is not None and hasattr(inner, "_fields"):
                found = search(inner)
                if found is not None:
                    return found
        return None

    return search(form)


def _show_error(form, exc: ServiceError) -> None:
    """The message next to its field, else at the top of the form."""
    field = _field(form, exc.field) if exc.field else None
    if field is not None:
        field.errors = [*field.errors, str(exc.message)]
    else:
        form.form_errors.append(str(exc.message))
    for name, messages in (exc.errors or {}).items():
        form.form_errors.extend(f"{name}: {m}" for m in messages)


def _change(questionnaire, form, operation, *, done, again):
    """Apply ``operation(document) -> document`` for a valid ``form``; commit and go to
    ``done`` (a URL, or a function of the new document); else roll back and ``again(form)``.
    """
    if form.validate_on_submit():
        document = _document(questionnaire)
        try:
            if request.form.get("rev") != revision(document):
                raise ServiceError(
                    _("The draft has changed since this page was shown (in another tab or by "
                      "someone else). Nothing was changed: check the draft below and try "
                      "again.")
                )
            new = operation(document)
            services.save_draft(current_user, questionnaire, new)
        except NotFound as exc:
            db.session.rollback()
            flash(str(exc.message), "error")
            return redirect(url_for(".edit", questionnaire_id=questionnaire.id), code=303)
        except ServiceError as exc:
            db.session.rollback()
            _show_error(form, exc)
        else:
            db.session.commit()
            target = done(new) if callable(done) else done
            return redirect(target, code=303)
    return again(form)


def _display(form_class, **kwargs):
    """A form filled from ``data`` only, never from the request being answered."""
    return form_class(formdata=None, **kwargs)


def _pick(failed, name: str, ident, default):
    if failed is not None and failed[0] == name and failed[1] == ident:
        return failed[2]
    return default


def _problems(questionnaire, document: dict) -> list[dict]:
    draft = questionnaire.draft
    if draft is None:
        return []
    found = []
    for problem in services.draft_problems(draft):
        kind, key = builder.problem_target(document, problem.path)
        if kind == "question":
            url = url_for(".edit_question", questionnaire_id=questionnaire.id, question_key=key)
        elif kind == "page":
            url = url_for(".edit_page", questionnaire_id=questionnaire.id, page_key=key)
        elif kind == "dimension":
            url = url_for(".edit", questionnaire_id=questionnaire.id) + f"#dim-{key}"
        else:
            url = url_for(".edit", questionnaire_id=questionnaire.id) + "#settings"
        found.append({"path": problem.path, "message": problem.message, "url": url})
    return found


def condition_summary(condition) -> str:
    """A condition in words, e.g. ``csat is less than 3 and channel equals phone``."""
    if condition is None:
        return ""
    if not isinstance(condition, dict):
        return str(condition)
    for combinator, joiner in (("all", _(" and ")), ("any", _(" or "))):
        if combinator in condition:
            parts = []
            for part in condition.get(combinator) or []:
                text = condition_summary(part)
                parts.append(f"({text})" if isinstance(part, dict) and (
                    "all" in part or "any" in part) else text)
            return joiner.join(parts)
    op = condition.get("op")
    if op == "answered" and isinstance(condition.get("value"), bool):
        words = _("is answered") if condition["value"] else _("is not answered")
        return f"{condition.get('question')} {words}"
    return "{} {} {}".format(
        condition.get("question"),
        OP_LABELS.get(op, op),
        builder.condition_value_text(condition.get("value")),
    ).strip()


def _dimension_choices(document: dict) -> list[tuple[str, str]]:
    choices = [("", _("(none)"))]
    for dimension in document.get("dimensions") or []:
        name = qdef.localized(dimension.get("name"), _locale())
        choices.append((dimension.get("key"), f"{name} ({dimension.get('key')})"))
    return choices


def _short(text, locale: str, limit: int = 60) -> str:
    words = qdef.localized(text, locale)
    return words if len(words) <= limit else words[: limit - 1] + "…"


def _render(questionnaire, view: str, key: str | None = None, failed=None, status=200,
            anchor: str | None = None):
    """The builder page: ``overview``, the editor of one ``page`` or of one ``question``.

    ``failed`` is ``(name, ident, form)``: the form just refused, shown with its input
    and messages in place of the fresh one.
    """
    draft = questionnaire.draft
    if draft is None:
        body = render_template(
            "surveys/builder.html", questionnaire=questionnaire, draft=None, view="no_draft",
            confirm=ConfirmForm(),
        )
        return Response(body, status)
    document = draft.document
    context = {
        "questionnaire": questionnaire,
        "draft": draft,
        "doc": document,
        "rev": revision(document),
        "problems": _problems(questionnaire, document),
        "view": view,
        "failed_form": failed[2] if failed else None,
        "failed_anchor": anchor,
        "locale": _locale(),
        "text_parts": builder.text_parts,
        "type_label": type_label,
        "kind_labels": KIND_LABELS,
        "condition_summary": condition_summary,
        "short": _short,
    }
    try:
        if view == "overview":
            context.update(_overview_forms(document, failed))
        elif view == "page":
            context.update(_page_forms(document, key, failed))
        else:
            context.update(_question_forms(document, key, failed))
    except NotFound:
        abort(404)
    return Response(render_template("surveys/builder.html", **context), status)


def _again(questionnaire, view: str, name: str, ident=None, key: str | None = None,
           anchor: str | None = None):
    """What ``_change`` shows when a form is refused. Refused actions without fields of
    their own (delete, move) are named ``action``; their message links to ``anchor``."""
    def render(form):
        return _render(questionnaire, view, key, failed=(name, ident, form), status=422,
                       anchor=anchor)

    return render


def _edit_url(questionnaire, anchor: str = "") -> str:
    return url_for(".edit", questionnaire_id=questionnaire.id) + (f"#{anchor}" if anchor else "")


def _question_url(questionnaire, key: str, anchor: str = "") -> str:
    return url_for(".edit_question", questionnaire_id=questionnaire.id, question_key=key) + (
        f"#{anchor}" if anchor else ""
    )


def _page_url(questionnaire, key: str, anchor: str = "") -> str:
    return url_for(".edit_page", questionnaire_id=questionnaire.id, page_key=key) + (
        f"#{anchor}" if anchor else ""
    )


# ----------------------------------------------------------------- forms of each view


def _dimension_data(dimension: dict) -> dict:
    name_en, name_zh = builder.text_parts(dimension.get("name"))
    description_en, description_zh = builder.text_parts(dimension.get("description"))
    return {
        "key": dimension.get("key"), "name_en": name_en, "name_zh": name_zh,
        "description_en": description_en, "description_zh": description_zh,
        "kind": dimension.get("kind", ""), "weight": dimension.get("weight"),
    }


def _overview_forms(document: dict, failed) -> dict:
    title_en, title_zh = builder.text_parts(document.get("title"))
    description_en, description_zh = builder.text_parts(document.get("description"))
    settings = _display(
        SettingsForm, prefix="settings-",
        data={"title_en": title_en, "title_zh": title_zh, "description_en": description_en,
              "description_zh": description_zh,
              "default_locale": document.get("default_locale", "")},
    )
    dimensions = {
        d.get("key"): _pick(failed, "dimension", d.get("key"), _display(
            DimensionForm, prefix=f"dim-{d.get('key')}-", data=_dimension_data(d)))
        for d in document.get("dimensions") or []
    }
    new_questions = {}
    for page in document.get("pages") or []:
        form = _display(NewQuestionForm, prefix=f"new-{page.get('key')}-")
        new_questions[page.get("key")] = _pick(failed, "new_question", page.get("key"), form)
    return {
        "settings_form": _pick(failed, "settings", None, settings),
        "dimension_forms": dimensions,
        "new_dimension_form": _pick(failed, "new_dimension", None,
                                    _display(DimensionForm, prefix="newdim-")),
        "new_page_form": _pick(failed, "new_page", None, _display(PageForm, prefix="newpage-")),
        "new_question_forms": new_questions,
    }


def _condition_context(document: dict, kind: str, key: str, failed) -> dict:
    holder = (builder.find_page(document, key) if kind == "page"
              else builder.find_question(document, key)[1])
    condition = holder.get("show_if")
    simple = builder.simple_condition(condition)
    sources = builder.condition_sources(document, kind, key)
    if simple is not None:
        combinator, leaves = simple
        rows = [{"question": leaf["question"], "op": leaf["op"],
                 "value": builder.condition_value_text(leaf["value"])} for leaf in leaves]
        form = _display(ConditionForm, prefix="cond-",
                        data={"combinator": combinator, "rows": rows})
        for _blank in range(BLANK_CONDITION_ROWS):
            form.rows.append_entry()
    else:
        form = None
    form = _pick(failed, "condition", None, form)
    if form is not None:
        _condition_choices(form, sources)
    yaml_form = _pick(failed, "condition_yaml", None, _display(
        ConditionYamlForm, prefix="yaml-", data={"yaml": builder.condition_yaml(condition)}))
    return {
        "condition": condition,
        "condition_form": form,
        "condition_yaml_form": yaml_form,
        "condition_is_simple": simple is not None,
        "condition_yaml": builder.condition_yaml(condition),
        "condition_sources": sources,
    }


def _condition_choices(form, sources: list[dict]) -> None:
    locale = _locale()
    choices = [("", _("(no test)"))]
    for source in sources:
        text = source["item"]["text"] if source["item"] else source["question"].get("text")
        choices.append((source["ref"], f"{source['ref']} — {_short(text, locale, 50)}"))
    known = {value for value, _label in choices}
    for row in form.rows:
        select = row.form.question
        current = select.data or ""
        options = list(choices)
        if current not in known:
            options.append((current, _("%(key)s (not before this question)", key=current)))
        select.choices = options


def _page_forms(document: dict, key: str, failed) -> dict:
    page = builder.find_page(document, key)
    title_en, title_zh = builder.text_parts(page.get("title"))
    description_en, description_zh = builder.text_parts(page.get("description"))
    form = _display(PageForm, prefix="page-", data={
        "key": page.get("key"), "title_en": title_en, "title_zh": title_zh,
        "description_en": description_en, "description_zh": description_zh})
    context = {
        "page": page,
        "page_index": _index_of_page(document, key),
        "page_form": _pick(failed, "page", None, form),
        "delete_page_form": _pick(failed, "delete_page", None,
                                  _display(DeletePageForm, prefix="del-")),
        "condition_kind": "page",
        "condition_key": key,
    }
    context.update(_condition_context(document, "page", key, failed))
    return context


def _index_of_page(document: dict, key: str) -> int:
    return [p.get("key") for p in document["pages"]].index(key)


def _question_data(question: dict) -> dict:
    text_en, text_zh = builder.text_parts(question.get("text"))
    help_en, help_zh = builder.text_parts(question.get("help"))
    return {
        "key": question.get("key"), "text_en": text_en, "text_zh": text_zh,
        "help_en": help_en, "help_zh": help_zh, "required": bool(question.get("required")),
        "dimension": question.get("dimension") or "", "weight": question.get("weight"),
        "reverse": bool(question.get("reverse")), "max_length": question.get("max_length"),
        "minimum": "" if question.get("min") is None else builder.condition_value_text(
            question.get("min")),
        "maximum": "" if question.get("max") is None else builder.condition_value_text(
            question.get("max")),
        "integer": bool(question.get("integer")),
        "min_selections": question.get("min_selections"),
        "max_selections": question.get("max_selections"),
    }


def _scale_data(question: dict) -> dict:
    scale = question.get("scale") or {}
    data = {"points": scale.get("points"), "not_applicable": bool(scale.get("not_applicable"))}
    for point, label in (scale.get("labels") or {}).items():
        en, zh = builder.text_parts(label)
        data[f"label_{point}_en"], data[f"label_{point}_zh"] = en, zh
    return data


def _question_forms(document: dict, key: str, failed) -> dict:
    page, question = builder.find_question(document, key)
    qtype = question.get("type")
    dimension_choices = _dimension_choices(document)
    form = _pick(failed, "question", None,
                 _display(QuestionForm, prefix="q-", data=_question_data(question)))
    form.dimension.choices = dimension_choices
    move = _pick(failed, "move_to_page", None,
                 _display(MoveToPageForm, prefix="to-", data={"page": page.get("key")}))
    move.page.choices = [
        (p.get("key"), f"{_short(p.get('title'), _locale(), 40) or p.get('key')} ({p.get('key')})")
        for p in document["pages"]
    ]
    options = {
        o.get("value"): _pick(failed, "option", o.get("value"), _display(
            OptionForm, prefix=f"opt-{o.get('value')}-",
            data={"value": o.get("value"),
                  **dict(zip(("label_en", "label_zh"), builder.text_parts(o.get("label")),
                             strict=True))}))
        for o in question.get("options") or []
    }
    items = {}
    for item in question.get("items") or []:
        text_en, text_zh = builder.text_parts(item.get("text"))
        item_form = _pick(failed, "item", item.get("key"), _display(
            ItemForm, prefix=f"item-{item.get('key')}-",
            data={"key": item.get("key"), "text_en": text_en, "text_zh": text_zh,
                  "dimension": item.get("dimension") or "", "weight": item.get("weight"),
                  "reverse": bool(item.get("reverse"))}))
        item_form.dimension.choices = dimension_choices
        items[item.get("key")] = item_form
    new_item = _pick(failed, "new_item", None, _display(ItemForm, prefix="newitem-"))
    new_item.dimension.choices = dimension_choices
    context = {
        "page": page,
        "question": question,
        "qtype": qtype,
        "scale_range": (builder.scale_range(question)
                        if qtype in builder.RATING_TYPES or qtype in builder.FIXED_SCALES
                        else None),
        "question_form": form,
        "type_form": _pick(failed, "type", None,
                           _display(TypeForm, prefix="type-", data={"type": qtype})),
        "move_form": move,
        "scale_form": _pick(failed, "scale", None,
                            _display(ScaleForm, prefix="scale-", data=_scale_data(question))),
        "option_forms": options,
        "new_option_form": _pick(failed, "new_option", None,
                                 _display(OptionForm, prefix="newopt-")),
        "item_forms": items,
        "new_item_form": new_item,
        "referrers": builder.referrers(document, key),
        "condition_kind": "question",
        "condition_key": key,
        "type_fields": builder.TYPE_FIELDS.get(qtype, ()),
    }
    context.update(_condition_context(document, "question", key, failed))
    return context


# ----------------------------------------------------------------- the builder page


@bp.get("/builder")
@admin_required
def edit(questionnaire_id: int):
    return _render(_questionnaire(questionnaire_id), "overview")


@bp.post("/builder/draft")
@admin_required
def make_draft(questionnaire_id: int):
    questionnaire = _questionnaire(questionnaire_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    services.ensure_draft(current_user, questionnaire)
    db.session.commit()
    return redirect(_edit_url(questionnaire), code=303)


@bp.get("/builder/pages/<page_key>")
@admin_required
def edit_page(questionnaire_id: int, page_key: str):
    questionnaire = _questionnaire(questionnaire_id)
    if questionnaire.draft is None:
        return redirect(_edit_url(questionnaire))
    return _render(questionnaire, "page", page_key)


@bp.get("/builder/questions/<question_key>")
@admin_required
def edit_question(questionnaire_id: int, question_key: str):
    questionnaire = _questionnaire(questionnaire_id)
    if questionnaire.draft is None:
        return redirect(_edit_url(questionnaire))
    return _render(questionnaire, "question", question_key)


# ----------------------------------------------------------------- questionnaire settings


@bp.post("/builder/settings")
@admin_required
def settings(questionnaire_id: int):
    questionnaire = _questionnaire(questionnaire_id)
    form = SettingsForm(prefix="settings-")
    return _change(
        questionnaire, form,
        lambda doc: builder.update_settings(
            doc, title_en=form.title_en.data, title_zh=form.title_zh.data,
            description_en=form.description_en.data, description_zh=form.description_zh.data,
            default_locale=form.default_locale.data or "",
        ),
        done=_edit_url(questionnaire, "settings"),
        again=_again(questionnaire, "overview", "settings"),
    )


# ----------------------------------------------------------------- dimensions


def _dimension_fields(form) -> dict:
    return {
        "key": form.key.data or "", "name_en": form.name_en.data, "name_zh": form.name_zh.data,
        "description_en": form.description_en.data, "description_zh": form.description_zh.data,
        "kind": form.kind.data or "", "weight": form.weight.data,
    }


@bp.post("/builder/dimensions")
@admin_required
def add_dimension(questionnaire_id: int):
    questionnaire = _questionnaire(questionnaire_id)
    form = DimensionForm(prefix="newdim-")
    return _change(
        questionnaire, form, lambda doc: builder.add_dimension(doc, **_dimension_fields(form)),
        done=_edit_url(questionnaire, "dimensions"),
        again=_again(questionnaire, "overview", "new_dimension"),
    )


@bp.post("/builder/dimensions/<dimension_key>")
@admin_required
def update_dimension(questionnaire_id: int, dimension_key: str):
    questionnaire = _questionnaire(questionnaire_id)
    form = DimensionForm(prefix=f"dim-{dimension_key}-")
    return _change(
        questionnaire, form,
        lambda doc: builder.update_dimension(doc, dimension_key, **_dimension_fields(form)),
        done=lambda doc: _edit_url(questionnaire, f"dim-{form.key.data.strip()}"),
        again=_again(questionnaire, "overview", "dimension", dimension_key),
    )


@bp.post("/builder/dimensions/<dimension_key>/delete")
@admin_required
def delete_dimension(questionnaire_id: int, dimension_key: str):
    questionnaire = _questionnaire(questionnaire_id)
    form = ConfirmForm()
    return _change(
        questionnaire, form, lambda doc: builder.delete_dimension(doc, dimension_key),
        done=_edit_url(questionnaire, "dimensions"),
        again=_again(questionnaire, "overview", "action", anchor=f"dim-{dimension_key}"),
    )


@bp.post("/builder/dimensions/<dimension_key>/move")
@admin_required
def move_dimension(questionnaire_id: int, dimension_key: str):
    questionnaire = _questionnaire(questionnaire_id)
    form = MoveForm()
    return _change(
        questionnaire, form,
        lambda doc: builder.move_dimension(doc, dimension_key, form.direction.data),
        done=_edit_url(questionnaire, f"dim-{dimension_key}"),
        again=_again(questionnaire, "overview", "action", anchor=f"dim-{dimension_key}"),
    )


# ----------------------------------------------------------------- pages


@bp.post("/builder/pages")
@admin_required
def add_page(questionnaire_id: int):
    questionnaire = _questionnaire(questionnaire_id)
    form = PageForm(prefix="newpage-")
    key = (form.key.data or "").strip() or builder.suggest_page_key(_document(questionnaire))
    return _change(
        questionnaire, form,
        lambda doc: builder.add_page(
            doc, key=key, title_en=form.title_en.data, title_zh=form.title_zh.data,
            description_en=form.description_en.data, description_zh=form.description_zh.data,
        ),
        done=_edit_url(questionnaire, f"page-{key}"),
        again=_again(questionnaire, "overview", "new_page"),
    )


@bp.post("/builder/pages/<page_key>")
@admin_required
def update_page(questionnaire_id: int, page_key: str):
    questionnaire = _questionnaire(questionnaire_id)
    form = PageForm(prefix="page-")
    return _change(
        questionnaire, form,
        lambda doc: builder.update_page(
            doc, page_key, key=form.key.data or "", title_en=form.title_en.data,
            title_zh=form.title_zh.data, description_en=form.description_en.data,
            description_zh=form.description_zh.data,
        ),
        done=lambda doc: _page_url(questionnaire, form.key.data.strip()),
        again=_again(questionnaire, "page", "page", key=page_key),
    )


@bp.post("/builder/pages/<page_key>/delete")
@admin_required
def delete_page(questionnaire_id: int, page_key: str):
    questionnaire = _questionnaire(questionnaire_id)
    form = DeletePageForm(prefix="del-")
    return _change(
        questionnaire, form,
        lambda doc: builder.delete_page(doc, page_key, with_questions=form.with_questions.data),
        done=_edit_url(questionnaire),
        again=_again(questionnaire, "page", "delete_page", key=page_key),
    )


@bp.post("/builder/pages/<page_key>/move")
@admin_required
def move_page(questionnaire_id: int, page_key: str):
    questionnaire = _questionnaire(questionnaire_id)
    form = MoveForm()
    return _change(
        questionnaire, form, lambda doc: builder.move_page(doc, page_key, form.direction.data),
        done=_edit_url(questionnaire, f"page-{page_key}"),
        again=_again(questionnaire, "overview", "action", anchor=f"page-{page_key}"),
    )


@bp.post("/builder/pages/<page_key>/questions")
@admin_required
def add_question(questionnaire_id: int, page_key: str):
    questionnaire = _questionnaire(questionnaire_id)
    form = NewQuestionForm(prefix=f"new-{page_key}-")
    key = (form.key.data or "").strip() or builder.suggest_question_key(
        _document(questionnaire), form.type.data or "")
    return _change(
        questionnaire, form,
        lambda doc: builder.add_question(
            doc, page_key, question_type=form.type.data, key=key,
            text_en=form.text_en.data, text_zh=form.text_zh.data,
        ),
        done=_question_url(questionnaire, key),
        again=_again(questionnaire, "overview", "new_question", page_key),
    )


# ----------------------------------------------------------------- questions


@bp.post("/builder/questions/<question_key>")
@admin_required
def update_question(questionnaire_id: int, question_key: str):
    questionnaire = _questionnaire(questionnaire_id)
    form = QuestionForm(prefix="q-")
    return _change(
        questionnaire, form,
        lambda doc: builder.update_question(
            doc, question_key, key=form.key.data or "", text_en=form.text_en.data,
            text_zh=form.text_zh.data, help_en=form.help_en.data, help_zh=form.help_zh.data,
            required=form.required.data, dimension=form.dimension.data,
            weight=form.weight.data, reverse=form.reverse.data,
            max_length=form.max_length.data, minimum=form.minimum.data,
            maximum=form.maximum.data, integer=form.integer.data,
            min_selections=form.min_selections.data, max_selections=form.max_selections.data,
        ),
        done=lambda doc: _question_url(questionnaire, form.key.data.strip()),
        again=_again(questionnaire, "question", "question", key=question_key),
    )


@bp.post("/builder/questions/<question_key>/type")
@admin_required
def change_type(questionnaire_id: int, question_key: str):
    questionnaire = _questionnaire(questionnaire_id)
    form = TypeForm(prefix="type-")
    return _change(
        questionnaire, form,
        lambda doc: builder.set_question_type(doc, question_key, form.type.data),
        done=_question_url(questionnaire, question_key),
        again=_again(questionnaire, "question", "type", key=question_key),
    )


@bp.post("/builder/questions/<question_key>/delete")
@admin_required
def delete_question(questionnaire_id: int, question_key: str):
    questionnaire = _questionnaire(questionnaire_id)
    form = ConfirmForm()
    page_key = None
    with contextlib.suppress(NotFound):
        page_key = builder.find_question(_document(questionnaire), question_key)[0].get("key")
    return _change(
        questionnaire, form, lambda doc: builder.delete_question(doc, question_key),
        done=_edit_url(questionnaire, f"page-{page_key}" if page_key else ""),
        again=_again(questionnaire, "question", "action", key=question_key, anchor="delete"),
    )


@bp.post("/builder/questions/<question_key>/move")
@admin_required
def move_question(questionnaire_id: int, question_key: str):
    questionnaire = _questionnaire(questionnaire_id)
    form = MoveForm()
    return _change(
        questionnaire, form,
        lambda doc: builder.move_question(doc, question_key, form.direction.data),
        done=_edit_url(questionnaire, f"q-{question_key}"),
        again=_again(questionnaire, "overview", "action", anchor=f"q-{question_key}"),
    )


@bp.post("/builder/questions/<question_key>/page")
@admin_required
def move_question_to_page(questionnaire_id: int, question_key: str):
    questionnaire = _questionnaire(questionnaire_id)
    form = MoveToPageForm(prefix="to-")
    form.page.choices = [(p.get("key"), p.get("key")) for p in _document(questionnaire)["pages"]]
    return _change(
        questionnaire, form,
        lambda doc: builder.move_question_to_page(doc, question_key, form.page.data),
        done=_question_url(questionnaire, question_key),
        again=_again(questionnaire, "question", "move_to_page", key=question_key),
    )


@bp.post("/builder/questions/<question_key>/scale")
@admin_required
def update_scale(questionnaire_id: int, question_key: str):
    questionnaire = _questionnaire(questionnaire_id)
    form = ScaleForm(prefix="scale-")
    return _change(
        questionnaire, form,
        lambda doc: builder.update_scale(
            doc, question_key, points=form.points.data, labels=form.labels(),
            not_applicable=form.not_applicable.data,
        ),
        done=_question_url(questionnaire, question_key, "scale"),
        again=_again(questionnaire, "question", "scale", key=question_key),
    )


# ----------------------------------------------------------------- options


@bp.post("/builder/questions/<question_key>/options")
@admin_required
def add_option(questionnaire_id: int, question_key: str):
    questionnaire = _questionnaire(questionnaire_id)
    form = OptionForm(prefix="newopt-")
    return _change(
        questionnaire, form,
        lambda doc: builder.add_option(
            doc, question_key, value=form.value.data or "", label_en=form.label_en.data,
            label_zh=form.label_zh.data,
        ),
        done=_question_url(questionnaire, question_key, "new-option"),
        again=_again(questionnaire, "question", "new_option", key=question_key),
    )


@bp.post("/builder/questions/<question_key>/options/<value>")
@admin_required
def update_option(questionnaire_id: int, question_key: str, value: str):
    questionnaire = _questionnaire(questionnaire_id)
    form = OptionForm(prefix=f"opt-{value}-")
    return _change(
        questionnaire, form,
        lambda doc: builder.update_option(
            doc, question_key, value, value=form.value.data or "",
            label_en=form.label_en.data, label_zh=form.label_zh.data,
        ),
        done=lambda doc: _question_url(questionnaire, question_key,
                                       f"opt-{form.value.data.strip()}"),
        again=_again(questionnaire, "question", "option", value, key=question_key),
    )


@bp.post("/builder/questions/<question_key>/options/<value>/delete")
@admin_required
def delete_option(questionnaire_id: int, question_key: str, value: str):
    questionnaire = _questionnaire(questionnaire_id)
    form = ConfirmForm()
    return _change(
        questionnaire, form, lambda doc: builder.delete_option(doc, question_key, value),
        done=_question_url(questionnaire, question_key, "options"),
        again=_again(questionnaire, "question", "action", key=question_key,
                     anchor=f"opt-{value}"),
    )


@bp.post("/builder/questions/<question_key>/options/<value>/move")
@admin_required
def move_option(questionnaire_id: int, question_key: str, value: str):
    questionnaire = _questionnaire(questionnaire_id)
    form = MoveForm()
    return _change(
        questionnaire, form,
        lambda doc: builder.move_option(doc, question_key, value, form.direction.data),
        done=_question_url(questionnaire, question_key, f"opt-{value}"),
        again=_again(questionnaire, "question", "action", key=question_key,
                     anchor=f"opt-{value}"),
    )


# ----------------------------------------------------------------- matrix items


def _item_fields(form) -> dict:
    return {
        "key": form.key.data or "", "text_en": form.text_en.data, "text_zh": form.text_zh.data,
        "dimension": form.dimension.data, "weight": form.weight.data,
        "reverse": form.reverse.data,
    }


@bp.post("/builder/questions/<question_key>/items")
@admin_required
def add_item(questionnaire_id: int, question_key: str):
    questionnaire = _questionnaire(questionnaire_id)
    form = ItemForm(prefix="newitem-")
    return _change(
        questionnaire, form,
        lambda doc: builder.add_item(doc, question_key, **_item_fields(form)),
        done=_question_url(questionnaire, question_key, "new-item"),
        again=_again(questionnaire, "question", "new_item", key=question_key),
    )


@bp.post("/builder/questions/<question_key>/items/<item_key>")
@admin_required
def update_item(questionnaire_id: int, question_key: str, item_key: str):
    questionnaire = _questionnaire(questionnaire_id)
    form = ItemForm(prefix=f"item-{item_key}-")
    return _change(
        questionnaire, form,
        lambda doc: builder.update_item(doc, question_key, item_key, **_item_fields(form)),
        done=lambda doc: _question_url(questionnaire, question_key,
                                       f"item-{form.key.data.strip()}"),
        again=_again(questionnaire, "question", "item", item_key, key=question_key),
    )


@bp.post("/builder/questions/<question_key>/items/<item_key>/delete")
@admin_required
def delete_item(questionnaire_id: int, question_key: str, item_key: str):
    questionnaire = _questionnaire(questionnaire_id)
    form = ConfirmForm()
    return _change(
        questionnaire, form, lambda doc: builder.delete_item(doc, question_key, item_key),
        done=_question_url(questionnaire, question_key, "items"),
        again=_again(questionnaire, "question", "action", key=question_key,
                     anchor=f"item-{item_key}"),
    )


@bp.post("/builder/questions/<question_key>/items/<item_key>/move")
@admin_required
def move_item(questionnaire_id: int, question_key: str, item_key: str):
    questionnaire = _questionnaire(questionnaire_id)
    form = MoveForm()
    return _change(
        questionnaire, form,
        lambda doc: builder.move_item(doc, question_key, item_key, form.direction.data),
        done=_question_url(questionnaire, question_key, f"item-{item_key}"),
        again=_again(questionnaire, "question", "action", key=question_key,
                     anchor=f"item-{item_key}"),
    )


# ----------------------------------------------------------------- skip logic


def _set_condition(questionnaire, kind: str, key: str):
    form = ConditionForm(prefix="cond-")
    view_url = _page_url if kind == "page" else _question_url

    def operation(doc):
        rows = [(row.form.question.data, row.form.op.data, row.form.value.data)
                for row in form.rows]
        condition = builder.build_condition(doc, form.combinator.data, rows)
        return builder.set_condition(doc, kind, key, condition)

    return _change(
        questionnaire, form, operation,
        done=view_url(questionnaire, key, "condition"),
        again=_again(questionnaire, kind, "condition", key=key),
    )


def _set_condition_yaml(questionnaire, kind: str, key: str):
    form = ConditionYamlForm(prefix="yaml-")
    view_url = _page_url if kind == "page" else _question_url
    return _change(
        questionnaire, form,
        lambda doc: builder.set_condition(
            doc, kind, key, builder.parse_condition_yaml(form.yaml.data or "")),
        done=view_url(questionnaire, key, "condition"),
        again=_again(questionnaire, kind, "condition_yaml", key=key),
    )


@bp.post("/builder/pages/<page_key>/condition")
@admin_required
def page_condition(questionnaire_id: int, page_key: str):
    return _set_condition(_questionnaire(questionnaire_id), "page", page_key)


@bp.post("/builder/pages/<page_key>/condition/yaml")
@admin_required
def page_condition_yaml(questionnaire_id: int, page_key: str):
    return _set_condition_yaml(_questionnaire(questionnaire_id), "page", page_key)


@bp.post("/builder/questions/<question_key>/condition")
@admin_required
def question_condition(questionnaire_id: int, question_key: str):
    return _set_condition(_questionnaire(questionnaire_id), "question", question_key)


@bp.post("/builder/questions/<question_key>/condition/yaml")
@admin_required
def question_condition_yaml(questionnaire_id: int, question_key: str):
    return _set_condition_yaml(_questionnaire(questionnaire_id), "question", question_key)


# ----------------------------------------------------------------- preview


def _preview_answers(definition, form, locale: str, current_key: str):
    """Every answer carried by the preview form, read and checked page by page as the
    respondent flow does, and the errors of the page being shown."""
    answers: dict = {}
    errors: dict = {}
    for page in definition.pages:
        found, problems = qdef.read_page(page, form, answers, locale)
        answers.update(found)
        if page.key == current_key:
            errors = problems
    return qdef.prune_hidden(definition, answers), errors


@bp.route("/preview", methods=["GET", "POST"])
@admin_required
def preview(questionnaire_id: int):
    """The draft (or the latest published version) as a respondent sees it, in ``lang``.

    Answers typed in the preview travel in the form from page to page and decide which
    pages and questions are shown; nothing is ever saved.
    """
    questionnaire = _questionnaire(questionnaire_id)
    source = request.values.get("source")
    version = (questionnaire.latest_published if source == "published" else None) or (
        questionnaire.draft or questionnaire.latest_published)
    if request.method == "POST" and not ConfirmForm().validate_on_submit():
        abort(400)
    lang = request.values.get("lang")
    if lang not in builder.LOCALES:
        lang = version.document.get("default_locale") or _locale()
        lang = lang if lang in builder.LOCALES else "en"
    chrome = {
        "banner": _("Preview — answers are not saved"),
        "back_to_builder": _("Back to the builder"),
        "version": (_("Draft v%(n)d", n=version.number) if not version.is_published
                    else _("Published v%(n)d", n=version.number)),
        "languages": _("Preview language:"),
        "lang": html_lang(),
        "cannot_preview": _("The draft cannot be shown until these problems are fixed:"),
        "preview_published": _("Preview the latest published version instead"),
    }
    try:
        definition = qdef.validate_document(version.document)
    except qdef.DefinitionError as exc:
        return render_template(
            "surveys/preview.html", questionnaire=questionnaire, version=version,
            problems=exc.problems, chrome=chrome, lang=lang, definition=None, page=None,
            locale=lang,
        ), 200

    page = definition.page(request.values.get("page", "")) or definition.pages[0]
    answers, errors = {}, {}
    finished = False
    if request.method == "POST":
        answers, errors = _preview_answers(definition, request.form, lang, page.key)
        action = request.form.get("action", "refresh")
        if action not in ("next", "submit"):
            errors = {}  # as for a respondent, answers are checked on the way forward
        visible = qdef.visible_pages(definition, answers)
        keys = [p.key for p in visible]
        position = keys.index(page.key) if page.key in keys else -1
        if action == "back":
            earlier = [p for p in visible if definition.page_index(p.key)
                       < definition.page_index(page.key)]
            page = earlier[-1] if earlier else page
        elif action in ("next", "submit") and not errors:
            later = [p for p in visible if definition.page_index(p.key)
                     > definition.page_index(page.key)]
            if action == "next" and later:
                page = later[0]
            elif action == "submit" or position == len(keys) - 1:
                finished = True
    visible = qdef.visible_pages(definition, answers)
    keys = [p.key for p in visible]
    shown_page = page if page.key in keys else dataclasses.replace(page, show_if=None)
    questions = qdef.visible_questions(shown_page, answers)
    shown = {q.key for q in questions}
    hidden = [q.key for q in page.questions if q.key not in shown]
    index = keys.index(page.key) if page.key in keys else None
    carried = [
        (name, value)
        for q in definition.questions
        if q.page_key != page.key and q.key in answers
        for name, value in qdef.answer_to_form(q, answers[q.key])
    ]
    all_index = definition.page_index(page.key)
    chrome.update({
        "page_hidden": page.key not in keys and _(
            "With the answers given, respondents do not see this page (its condition does not "
            "hold)."),
        "hidden_questions": hidden and _(
            "Hidden by skip logic with the answers given: %(keys)s", keys=", ".join(hidden)),
        "finished": finished and _(
            "Here the respondent's answers would be submitted. In the preview nothing is "
            "saved."),
        "previous": _("Previous page"),
        "next": _("Next page"),
        "pages": _("Pages"),
    })
    with force_locale(lang):
        body = render_template(
            "surveys/preview.html",
            questionnaire=questionnaire, version=version, definition=definition, page=page,
            questions=questions, answers=answers, errors=errors,
            raw=request.form if request.method == "POST" else None, carried=carried,
            index=index, total=len(keys), is_last=index is not None and index == len(keys) - 1,
            lang=lang, locale=lang, chrome=chrome, problems=None,
            previous_page=definition.pages[all_index - 1] if all_index > 0 else None,
            next_page=(definition.pages[all_index + 1]
                       if all_index + 1 < len(definition.pages) else None),
        )
    return Response(body, 422 if errors else 200)
