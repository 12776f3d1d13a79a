"""JSON API under ``/api/v1``: people, teams and vendors, authenticated by API keys.

The OpenAPI document is generated from this code by flask-smorest and served at
``/api/v1/openapi.json``; Swagger UI (from the ``swagger_ui_bundle`` package, no
CDN, no inline script) at ``/api/v1/docs``.

Every request needs an API key (``Authorization: Bearer <key>`` or
``X-API-Key: <key>``); the session cookie is never looked at, which is why the
API is exempt from CSRF. A read key may only GET; a write key may do everything.
A key acts with administrator rights on organisation data (see
:class:`org.apikeys.ApiActor`). Endpoints are thin: they call :mod:`org.services`,
exactly like the HTML pages. One request is one transaction: it is committed
after a successful response and rolled back after an error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import Blueprint as FlaskBlueprint
from flask import (
    Flask,
    abort,
    current_app,
    g,
    render_template,
    request,
    send_from_directory,
    url_for,
)
from flask_babel import gettext as _
from flask_limiter.util import get_remote_address
from flask_smorest import Blueprint
from marshmallow import Schema
from sqlalchemy.exc import IntegrityError
from swagger_ui_bundle import swagger_ui_path
from webargs.flaskparser import FlaskParser
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import Forbidden, Unauthorized, UnprocessableEntity

from core.errors import json_error
from core.exceptions import ServiceError
from core.extensions import api, csrf, db, limiter
from org import apikeys, services
from org.apikeys import ApiActor
from org.schemas import (
    ActiveQuerySchema,
    TeamCreateSchema,
    TeamSchema,
    TeamUpdateSchema,
    UserCreateSchema,
    UserQuerySchema,
    UserSchema,
    UserUpdateSchema,
    VendorCreateSchema,
    VendorSchema,
    VendorUpdateSchema,
)

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
DEFAULT_RATE_LIMIT = "300 per minute"
PAGE_SIZE = 25
MAX_PAGE_SIZE = 100

API_DESCRIPTION = """\
Read and change Orbit's people, teams and vendors, questionnaires and their
versions, open survey links and the responses collected through them.

**Authentication.** Send an API key with every request, as
`Authorization: Bearer <key>` (or `X-API-Key: <key>`). Administrators create and
revoke keys on the *API keys* page; a key is shown once, when it is made. A *read*
key may only `GET`; a *write* key may do everything. A key acts with administrator
rights on organisation data; changes are recorded in the audit trail under the
key's name. Logging in to the web interface does not authenticate API calls.

**Errors** always have the same JSON body:
`{"code": 400, "status": "Bad Request", "message": "…", "errors": {"email": ["…"]}}`
(`errors` only when some input is invalid: it maps each field to its messages).
401: no valid key; 403: the key may not do this; 404: no such object; 409: the object's
state forbids this (a closed link, nothing to publish) or the data changed meanwhile;
422: the request does not have the documented shape;
400: the request breaks a rule (e.g. an email already in use); 429: too many requests.

**Lists** are paginated with `page` and `page_size` (at most 100); the
`X-Pagination` response header holds `total`, `total_pages`, `page`, `next_page`…

**Transactions.** Each request is applied completely or not at all.
"""

SECURITY_SCHEMES = {
    "bearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "description": "An Orbit API key, `orb_<prefix>_<secret>`. Read keys may only GET; "
        "write keys may also POST, PUT, PATCH and DELETE.",
    },
    "apiKeyHeader": {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "The same key in an `X-API-Key` header, for clients that cannot set "
        "`Authorization`.",
    },
}


# ----------------------------------------------------------------- plumbing


def _flatten(messages: dict) -> dict:
    """``{"json": {"email": [...]}}`` → ``{"email": [...]}``, the shape service errors have.

    Errors about the whole body (e.g. invalid JSON) stay under their location.
    """
    flat: dict = {}
    for location, errors in messages.items():
        if isinstance(errors, dict):
            flat.update(errors)
        else:
            flat[location] = errors
    return flat


class ArgumentsParser(FlaskParser):
    """Report invalid input as ``errors: {field: [messages]}``, whatever its location."""

    def handle_error(self, error, req, schema, *, error_status_code, error_headers):
        # Always 422 (no endpoint asks for another code), with a readable message.
        exc = UnprocessableEntity(description=_("Some of the data you sent is not valid."))
        exc.data = {"messages": _flatten(error.messages), "schema": schema}
        raise exc


def current_actor() -> ApiActor:
    """The API key's actor of the current request (set by the authentication)."""
    return g.api_actor


def _authenticate() -> None:
    """Before every API request: a valid key, with write scope unless the request only reads."""
    presented = apikeys.presented_key(
        request.headers.get("Authorization"), request.headers.get("X-API-Key")
    )
    key = apikeys.authenticate_api_key(presented)
    if key is None:
        raise Unauthorized(
            description=_("Send a valid API key in the Authorization header: Bearer <key>."),
            www_authenticate=WWWAuthenticate("bearer", {"realm": "Orbit API"}),
        )
    g.api_actor = ApiActor(key)
    if request.method not in READ_METHODS and not g.api_actor.can_write:
        raise Forbidden(description=_("This API key can only read. Use a key with write scope."))


def _end_transaction(response):
    """One request, one transaction: commit what a successful request did, else roll back."""
    if response.status_code >= 400:
        db.session.rollback()
        return response
    try:
        db.session.commit()
    except IntegrityError:  # a concurrent request took the same unique value
        db.session.rollback()
        return json_error(409, _("The data changed in the meantime; please try again."))
    return response


def _service_error(exc: ServiceError):
    if exc.errors:
        errors = {
            str(k): [str(m) for m in (v if isinstance(v, list | tuple) else [v])]
            for k, v in exc.errors.items()
        }
    elif exc.field:
        errors = {exc.field: [str(exc.message)]}
    else:
        errors = None
    return json_error(exc.status_code, str(exc.message), errors)


def _rate_limit() -> str:
    return current_app.config.get("API_RATE_LIMIT", DEFAULT_RATE_LIMIT)


def _document_errors(doc, doc_info, *, method, **kwargs):
    """Every operation may answer 401; changes may also answer 400 (a broken rule) and 403."""
    responses = doc.setdefault("responses", {})
    responses.setdefault(401, "UNAUTHORIZED")
    if method.upper() not in READ_METHODS:
        responses.setdefault(400, "BAD_REQUEST")
        responses.setdefault(403, "FORBIDDEN")
    return doc


class ApiBlueprint(Blueprint):
    """A flask-smorest blueprint with Orbit's API key authentication, transaction
    handling, error shape and rate limit. Every API blueprint should be one."""

    ARGUMENTS_PARSER = ArgumentsParser()
    PAGINATION_ARGUMENTS_PARSER = ArgumentsParser()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.before_request(_authenticate)
        self.after_request(_end_transaction)
        self.register_error_handler(ServiceError, _service_error)
        self._prepare_doc_cbks.append(_document_errors)
        # One budget per client address for the whole API, not one per resource.
        limiter.shared_limit(_rate_limit, scope="api", key_func=get_remote_address)(self)


def page_items(query, pagination_parameters):
    """The items of the requested page of ``query``; sets the total for ``X-Pagination``."""
    page = db.paginate(
        query,
        page=pagination_parameters.page,
        per_page=pagination_parameters.page_size,
        error_out=False,
    )
    pagination_parameters.item_count = page.total
    return page.items


# ----------------------------------------------------------------- org resources


@dataclass(frozen=True)
class OrgResource:
    """People, teams and vendors have the same operations, each a service call:
    list (filtered, paginated), add, get, change (PATCH), deactivate, reactivate."""

    name: str  # URL segment, blueprint and tag: "people"
    noun: str  # "person"; the path parameter is "<noun>_id"
    description: str
    schema: type[Schema]
    create_schema: type[Schema]
    update_schema: type[Schema]
    query_schema: type[Schema]
    search: Callable  # (actor, **filters) -> Select
    create: Callable  # (actor, **fields) -> object
    load: Callable  # (actor, id) -> object, or raises NotFound
    update: Callable  # (actor, object, **every field in `fields`) -> object
    set_active: Callable  # (actor, object, active) -> object
    fields: tuple[str, ...]  # what `update` takes; PATCH keeps the ones not sent
    list_doc: str
    create_doc: str
    update_doc: str


def resource_blueprint(res: OrgResource) -> ApiBlueprint:
    blp = ApiBlueprint(
        res.name, __name__, url_prefix=f"/api/v1/{res.name}", description=res.description
    )
    id_name = f"{res.noun}_id"
    item = f"/<int:{id_name}>"
    not_found = blp.alt_response(404, response="NOT_FOUND")

    def doc(text: str, operation_id: str):
        summary, _, description = text.partition("\n\n")
        extra = {"description": description} if description else {}
        return blp.doc(summary=summary, operationId=operation_id, **extra)

    @blp.route("", methods=["GET"], endpoint="list")
    @doc(res.list_doc, f"list_{res.name}")
    @blp.arguments(res.query_schema, location="query")
    @blp.response(200, res.schema(many=True))
    @blp.paginate(page_size=PAGE_SIZE, max_page_size=MAX_PAGE_SIZE)
    def list_(query, pagination_parameters):
        return page_items(res.search(current_actor(), **query), pagination_parameters)

    @blp.route("", methods=["POST"], endpoint="create")
    @doc(res.create_doc, f"create_{res.noun}")
    @blp.arguments(res.create_schema)
    @blp.response(201, res.schema)
    def create(data):
        obj = res.create(current_actor(), **data)
        return obj, {"Location": url_for(f"{res.name}.get", **{id_name: obj.id})}

    @blp.route(item, methods=["GET"], endpoint="get")
    @doc(f"Get a {res.noun}", f"get_{res.noun}")
    @blp.response(200, res.schema)
    @not_found
    def get(**path):
        return res.load(current_actor(), path[id_name])

    @blp.route(item, methods=["PATCH"], endpoint="update")
    @doc(res.update_doc, f"update_{res.noun}")
    @blp.arguments(res.update_schema)
    @blp.response(200, res.schema)
    @not_found
    def update(data, **path):
        obj = res.load(current_actor(), path[id_name])
        current = {name: data.get(name, getattr(obj, name)) for name in res.fields}
        return res.update(current_actor(), obj, **current)

    for active, verb, text in (
        (False, "deactivate", f"Deactivate a {res.noun}\n\nNothing is deleted: the "
         f"{res.noun}'s history is kept. Deactivating twice changes nothing."),
        (True, "reactivate", f"Reactivate a {res.noun}\n\nMake a deactivated {res.noun} "
         "active again."),
    ):

        def set_active(_active=active, **path):
            obj = res.load(current_actor(), path[id_name])
            return res.set_active(current_actor(), obj, _active)

        blp.route(f"{item}/{verb}", methods=["POST"], endpoint=verb)(
            doc(text, f"{verb}_{res.noun}")(blp.response(200, res.schema)(not_found(set_active)))
        )
    return blp


def _create_person(actor, **fields):
    # No password travels through the API: the generated temporary one is
    # dropped, and an administrator gives the person one ("Reset password").
    user, _temporary = services.create_user(actor, **fields)
    return user


PEOPLE = OrgResource(
    name="people",
    noun="person",
    description="People: their role, team, supervisor and language.",
    schema=UserSchema,
    create_schema=UserCreateSchema,
    update_schema=UserUpdateSchema,
    query_schema=UserQuerySchema,
    search=services.search_users,
    create=_create_person,
    load=services.get_user_for,
    update=services.update_user,
    set_active=services.set_user_active,
    fields=("email", "display_name", "role", "team_id", "supervisor_id", "locale"),
    list_doc="List people\n\nSorted by name. Filter with `q` (part of the name or email), "
    "`role`, `team_id` and `active`.",
    create_doc="Add a person\n\nThe email must not be in use. No password is set through "
    "the API: an administrator gives the person a temporary one (\"Reset password\").",
    update_doc="Change a person\n\nSend only the fields to change; `null` clears "
    "`team_id`, `supervisor_id` and `locale`.",
)

TEAMS = OrgResource(
    name="teams",
    noun="team",
    description="Teams, in-house or run by a vendor.",
    schema=TeamSchema,
    create_schema=TeamCreateSchema,
    update_schema=TeamUpdateSchema,
    query_schema=ActiveQuerySchema,
    search=services.search_teams,
    create=services.create_team,
    load=services.get_team,
    update=services.update_team,
    set_active=services.set_team_active,
    fields=("name", "vendor_id"),
    list_doc="List teams\n\nSorted by name. Filter with `q` (part of the name) and `active`.",
    create_doc="Add a team\n\nTeam names are unique, whatever their case.",
    update_doc="Change a team\n\nSend only the fields to change; `vendor_id: null` makes "
    "the team in-house.",
)

VENDORS = OrgResource(
    name="vendors",
    noun="vendor",
    description="Vendors (outsourcing suppliers) and their contracts.",
    schema=VendorSchema,
    create_schema=VendorCreateSchema,
    update_schema=VendorUpdateSchema,
    query_schema=ActiveQuerySchema,
    search=services.search_vendors,
    create=services.create_vendor,
    load=services.get_vendor,
    update=services.update_vendor,
    set_active=services.set_vendor_active,
    fields=("name", "contact_name", "contact_email", "contract_start", "contract_end"),
    list_doc="List vendors\n\nSorted by name. Filter with `q` (part of the name) and "
    "`active`.",
    create_doc="Add a vendor\n\nVendor names are unique, whatever their case; a contract "
    "cannot end before it starts.",
    update_doc="Change a vendor\n\nSend only the fields to change; `null` clears the "
    "optional ones.",
)

API_BLUEPRINTS = tuple(resource_blueprint(res) for res in (PEOPLE, TEAMS, VENDORS))


# ----------------------------------------------------------------- interactive docs

# Only what the page needs from the bundle (not its demo index.html, which
# points at an external spec).
SWAGGER_UI_ASSETS = frozenset(
    {"swagger-ui.css", "swagger-ui.css.map", "swagger-ui-bundle.js", "swagger-ui-bundle.js.map"}
)

docs_ui = FlaskBlueprint("api_ui", __name__, url_prefix="/api/v1/docs")


@docs_ui.get("")
def docs():
    return render_template("api/docs.html", spec_url=_spec_url())


# Named "static" so it is cached like the app's other static files.
@docs_ui.get("/assets/<path:filename>", endpoint="static")
def swagger_ui_asset(filename: str):
    if filename not in SWAGGER_UI_ASSETS:
        abort(404)
    return send_from_directory(str(swagger_ui_path), filename)


def _spec_url() -> str:
    return url_for("api-docs.openapi_json")


# ----------------------------------------------------------------- wiring


def register_api(app: Flask) -> None:
    """Initialise flask-smorest on ``app`` and register the API and its docs page."""
    api.init_app(
        app,
        spec_kwargs={
            "info": {"description": API_DESCRIPTION},
            "security": [{name: []} for name in SECURITY_SCHEMES],
        },
    )
    for name, scheme in SECURITY_SCHEMES.items():
        api.spec.components.security_scheme(name, scheme)
    for blueprint in API_BLUEPRINTS:
        register_api_blueprint(api, blueprint)
    app.register_blueprint(docs_ui)


def register_api_blueprint(api, blueprint: ApiBlueprint) -> None:
    """Add an :class:`ApiBlueprint` to the API (and to its OpenAPI document)."""
    # Safe: the API authenticates by API key only, never by the session cookie.
    csrf.exempt(blueprint)
    api.register_blueprint(blueprint)
