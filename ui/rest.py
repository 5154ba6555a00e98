"""A plain REST API beside the Gradio endpoints, for callers in any language (curl, JavaScript, Go, ...).

    GET  /api/v1/search?q=red+car&k=10&target=images&folder=~/Pictures&min_score=0.2
    POST /api/v1/search            (multipart: image=@query.jpg, k=10, ...)
    GET  /api/v1/images/{id}/similar?k=10
    GET  /api/v1/info
    GET  /api/v1/docs              (OpenAPI page; the schema is /api/v1/openapi.json)

Served by the UI's own server, so it listens where the UI listens and asks for the UI's password: HTTP Basic
with the `--auth` user and password, or the browser's login cookie. Bad input gets a 4xx with {"error": "..."};
an unexpected failure a 500 with a one-line message (the traceback stays in the server log).
"""

# No `from __future__ import annotations`: FastAPI reads the route functions' annotations at run time.
import logging
import secrets
import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, File, Form, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Mount

from multimodal.errors import EmptyIndexError, ImageLoadError, MultimodalError, NotFoundError
from multimodal.search import Filters
from ui import views
from ui.service import Options, SearchService

_log = logging.getLogger(__name__)
PREFIX = "/api/v1"
MAX_K = 1000
TargetParam = Literal["images", "captions", "both"]
_STATUS = {NotFoundError: 404, EmptyIndexError: 409, ImageLoadError: 422}


class RestError(Exception):
    """An HTTP error with a JSON body {"error": message}."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def mount(server_app: Any, service: SearchService, auth: tuple[str, str] | None) -> FastAPI:
    """Mount the API at /api/v1 on the running Gradio server (ahead of Gradio's own catch-all routes)."""
    api = build(service, auth, tokens=lambda: getattr(server_app, "tokens", {}),
                cookie_id=lambda: getattr(server_app, "cookie_id", ""))
    server_app.router.routes.insert(0, Mount(PREFIX, app=api))
    return api


def build(service: SearchService, auth: tuple[str, str] | None, *, tokens: Any = dict,
          cookie_id: Any = str) -> FastAPI:
    """The API as its own FastAPI app (mounted at /api/v1 by `mount`)."""
    api = FastAPI(title="multimodal", version="1", summary="Search your images and captions by text or image.",
                  docs_url="/docs", redoc_url=None, openapi_url="/openapi.json")
    _errors(api)
    basic = HTTPBasic(auto_error=False)

    def login(request: Request, given: Annotated[HTTPBasicCredentials | None, Depends(basic)]) -> None:
        if auth is None:
            return
        if given is not None and _same(given.username, auth[0]) and _same(given.password, auth[1]):
            return
        cookie = request.cookies.get(f"access-token-{cookie_id()}") or request.cookies.get(
            f"access-token-unsecure-{cookie_id()}")
        if cookie and tokens().get(cookie):
            return
        raise RestError(401, "log in: HTTP Basic with the UI's user and password")

    guarded: dict[str, Any] = {"dependencies": [Depends(login)]}

    @api.get("/search", **guarded)
    def search_text(q: Annotated[str, Query(min_length=1, description="what to look for, in words")],
                    k: Annotated[int, Query(ge=1, le=MAX_K)] = 10, target: TargetParam = "images",
                    folder: str = "", format: str = "", tag: str = "",
                    min_score: Annotated[float, Query(ge=-1, le=1)] = 0.0) -> list[dict[str, Any]]:
        """Images (or captions) matching a text query, best first."""
        options = _options(k, target, folder, format, tag, min_score)
        return [views.hit_dict(h) for h in service.search_text(q, options)]

    @api.post("/search", **guarded)
    def search_image(image: Annotated[UploadFile, File(description="the query image")],
                     k: Annotated[int, Form(ge=1, le=MAX_K)] = 10, target: Annotated[TargetParam, Form()] = "images",
                     folder: Annotated[str, Form()] = "", format: Annotated[str, Form()] = "",
                     tag: Annotated[str, Form()] = "",
                     min_score: Annotated[float, Form(ge=-1, le=1)] = 0.0) -> list[dict[str, Any]]:
        """Images (or captions) like an uploaded image, best first."""
        options = _options(k, target, folder, format, tag, min_score)
        with tempfile.TemporaryDirectory(prefix="mm-rest-") as tmp:
            path = Path(tmp) / "query"
            path.write_bytes(_read_capped(image, service.limits.max_upload_bytes))
            query = service.query_image(str(path), None)
            return [views.hit_dict(h) for h in service.search_image(query, options)]

    @api.get("/images/{image_id}/similar", **guarded)
    def similar(image_id: str, k: Annotated[int, Query(ge=1, le=MAX_K)] = 10, folder: str = "",
                min_score: Annotated[float, Query(ge=-1, le=1)] = 0.0) -> list[dict[str, Any]]:
        """Images nearest to an indexed image (its "image_id" in a result), from its stored vector."""
        options = _options(k, "images", folder, "", "", min_score)
        return [views.hit_dict(h) for h in service.more_like_this(image_id, options)]

    @api.get("/info", **guarded)
    def info() -> dict[str, Any]:
        """What the index holds: counts, model (and a note on it), location, last ingest."""
        return views.info_dict(service.info(refresh=True))

    return api


def _options(k: int, target: str, folder: str, fmt: str, tag: str, min_score: float) -> Options:
    filters = Filters(folder=folder.strip() or None, format=fmt.strip() or None, tag=tag.strip() or None)
    return Options(k=k, target=target, threshold=min_score or None, filters=filters)  # type: ignore[arg-type]


def _read_capped(upload: UploadFile, limit: int) -> bytes:
    data = upload.file.read(limit + 1)
    if len(data) > limit:
        raise RestError(413, f"the image is larger than {limit:,} bytes")
    if not data:
        raise RestError(422, "the uploaded image is empty")
    return data


def _same(given: str, expected: str) -> bool:
    return secrets.compare_digest(given.encode(), expected.encode())


def _errors(api: FastAPI) -> None:
    """Every failure answers JSON {"error": message}; a person's mistake is one log line, never a traceback."""

    @api.exception_handler(RestError)
    async def rest_error(request: Request, e: RestError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Basic"} if e.status == 401 else None
        return _reply(request, e.status, e.message, headers)

    @api.exception_handler(MultimodalError)
    async def library_error(request: Request, e: MultimodalError) -> JSONResponse:
        status = next((code for kind, code in _STATUS.items() if isinstance(e, kind)), 400)
        message = f"cannot use the image: {e.reason}" if isinstance(e, ImageLoadError) else str(e)
        return _reply(request, status, message)

    @api.exception_handler(RequestValidationError)
    async def bad_request(request: Request, e: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'][1:]) or 'request'}: {err['msg']}"
                             for err in e.errors())
        return _reply(request, 422, problems or "invalid request")

    @api.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, e: StarletteHTTPException) -> JSONResponse:
        return _reply(request, e.status_code, str(e.detail))

    @api.middleware("http")
    async def unexpected(request: Request, call_next: Any) -> Any:
        try:
            return await call_next(request)
        except Exception as e:  # a bug: the log gets the traceback, the caller one line of JSON
            _log.error("REST %s %s failed", request.method, request.url.path, exc_info=e)
            return JSONResponse({"error": f"internal error ({type(e).__name__}); the server log has details"}, 500)


def _reply(request: Request, status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    _log.info("REST %s %s -> %d: %s", request.method, request.url.path, status, message)
    return JSONResponse({"error": message}, status_code=status, headers=headers)
