"""Errors from one place: JSON errors with stable codes (clients switch on `errcode`), the one
table that maps the domain's errors (which know nothing of HTTP) to a status and a code, and the
mapping of what aiohttp and json raise on a hostile request body to a 4xx.

A domain error a handler does not catch is answered here from `DOMAIN_ERRORS`: the JSON error on
/api/, the error page (or the 404 page) elsewhere.

A body that cannot be read is the client's fault: it is answered with a 4xx (the JSON error on
/api/, a page elsewhere), logged in one line without its content, and nothing is stored. Body
reading is wrapped in `body_errors()`, which knows the exceptions the parsers raise; anything
else is still a bug and a logged 500.

A database that cannot be reached (stopped, restarting, its connection cut: council.store's
`unavailable`) is a known condition too: 503 with Retry-After, KB_STORE_UNAVAILABLE on /api/,
said in the log once a minute at most, without a traceback.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiohttp import hdrs, web
from aiohttp.http_exceptions import BadHttpMessage
from pydantic import ValidationError

from council.announcements.inputs import AnnouncementError
from council.appeals.values import AppealError, KeyReused
from council.files.kinds import UnsupportedFile, UnusualArchive
from council.language import Refusal
from council.law.deadlines import DeadlineError
from council.notes.inputs import NoteError
from council.sittings.inputs import SittingError
from council.sittings.paper import CorruptedFile
from council.store import unavailable
from council.votes.inputs import VoteError
from web import i18n
from web.pages import render

log = logging.getLogger(__name__)

# The domain's errors as HTTP answers: (error class, its `code` or None for any, status,
# errcode). The first match wins, so specific codes and subclasses come first. The errcodes are
# a contract: clients and tests switch on them.
DOMAIN_ERRORS: tuple[tuple[type[Exception], str | None, int, str], ...] = (
    (SittingError, "KB_UNKNOWN_SITTING", 404, "KB_UNKNOWN_SITTING"),
    (SittingError, "KB_UNKNOWN_COMMISSION", 404, "KB_UNKNOWN_COMMISSION"),
    (SittingError, "KB_UNKNOWN_BODY", 404, "KB_UNKNOWN_BODY"),
    (SittingError, "KB_UNKNOWN_ITEM", 404, "KB_UNKNOWN_ITEM"),
    (SittingError, "KB_DUPLICATE_NUMBER", 409, "KB_DUPLICATE_NUMBER"),
    (SittingError, "KB_WITHDRAWN", 409, "KB_WITHDRAWN"),
    (SittingError, "KB_FILE_TOO_LARGE", 413, "KB_FILE_TOO_LARGE"),
    (SittingError, "KB_UNSUPPORTED_FILE", 415, "KB_UNSUPPORTED_FILE"),
    (SittingError, "KB_UNUSUAL_ARCHIVE", 422, "KB_UNUSUAL_ARCHIVE"),
    (SittingError, "KB_FILE_TOO_COMPLEX", 422, "KB_FILE_TOO_COMPLEX"),
    (SittingError, "KB_EMPTY_FILE", 400, "KB_EMPTY_FILE"),
    (SittingError, "KB_CORRUPTED_FILE", 400, "KB_CORRUPTED_FILE"),
    (SittingError, "KB_NO_FILE", 400, "KB_NO_FILE"),
    (SittingError, "KB_BAD_ORDER", 400, "KB_BAD_ORDER"),
    (VoteError, "KB_UNKNOWN_ITEM", 404, "KB_UNKNOWN_ITEM"),
    (VoteError, "KB_UNKNOWN_VOTE", 404, "KB_UNKNOWN_VOTE"),
    (VoteError, "KB_UNKNOWN_MEMBER", 404, "KB_UNKNOWN_MEMBER"),
    (VoteError, "KB_NOT_CHAIR", 403, "KB_NOT_CHAIR"),
    (VoteError, "KB_NOT_A_MEMBER", 422, "KB_NOT_A_MEMBER"),
    (VoteError, "KB_ITEM_WITHDRAWN", 409, "KB_ITEM_WITHDRAWN"),
    (VoteError, "KB_NO_QUORUM", 409, "KB_NO_QUORUM"),
    (VoteError, "KB_VOTE_OPEN", 409, "KB_VOTE_OPEN"),
    (VoteError, "KB_VOTE_CLOSED", 409, "KB_VOTE_CLOSED"),
    (VoteError, "KB_NO_VOTE", 409, "KB_NO_VOTE"),
    (VoteError, None, 409, "KB_VOTE_REFUSED"),
    (NoteError, "KB_UNKNOWN_NOTE", 404, "KB_UNKNOWN_NOTE"),
    (NoteError, "KB_UNKNOWN_SUBJECT", 422, "KB_UNKNOWN_SUBJECT"),
    (NoteError, "KB_NO_NOTES_ROOM", 403, "KB_NO_NOTES_ROOM"),
    (AnnouncementError, "KB_EXPIRY_PAST", 422, "KB_EXPIRY_PAST"),
    (AnnouncementError, "KB_EXPIRY_FAR", 422, "KB_EXPIRY_FAR"),
    (KeyReused, None, 422, "KB_IDEMPOTENCY_KEY_REUSED"),
    (AppealError, None, 409, "KB_APPEAL_REFUSED"),
    (DeadlineError, None, 422, "KB_DEADLINE_REFUSED"),
    (UnusualArchive, None, 422, "KB_UNUSUAL_ARCHIVE"),
    (UnsupportedFile, None, 415, "KB_UNSUPPORTED_FILE"),
    (CorruptedFile, None, 400, "KB_CORRUPTED_FILE"),
)
DOMAIN_CLASSES = tuple(dict.fromkeys(cls for cls, *_ in DOMAIN_ERRORS))

# What the parsers raise on a hostile body (checked in this order, so subclasses come first):
# aiohttp's request payload (Content-Encoding, chunked framing) and the multipart reader (part
# headers, boundaries, a body that ends early), bytes.decode (charset), json.loads (syntax,
# nesting), and a client gone mid-body.
BODY_ERRORS: tuple[tuple[type[BaseException], int, str, str], ...] = (
    (web.RequestPayloadError, 400, "KB_BAD_BODY",
     "The request body could not be read (bad Content-Encoding or framing)"),
    (BadHttpMessage, 400, "KB_BAD_MULTIPART", "Malformed multipart part headers"),
    (RecursionError, 400, "KB_BAD_JSON", "JSON nested too deeply"),
    (UnicodeDecodeError, 400, "KB_BAD_ENCODING", "The body is not valid text in its charset (UTF-8)"),
    (LookupError, 415, "KB_UNSUPPORTED_CHARSET", "Unknown charset; send UTF-8"),
    (json.JSONDecodeError, 400, "KB_BAD_JSON", "The body is not valid JSON"),
    (ValueError, 400, "KB_BAD_BODY",
     "Malformed body (multipart boundary or framing, or a JSON value out of range)"),
    (ConnectionResetError, 400, "KB_INCOMPLETE_BODY", "The request body ended early"),
)
_CAUGHT = tuple(cls for cls, *_ in BODY_ERRORS)
# Content codings aiohttp decodes; anything else would reach the parsers as raw bytes.
CONTENT_CODINGS = {"", "identity", "gzip", "x-gzip", "deflate", "br", "zstd"}
MAX_BODY = 2 * 1024 * 1024  # the app's client_max_size: JSON and urlencoded bodies


class BadInput(Exception):
    """A request the client must fix: answered with `status`, nothing changed."""

    def __init__(self, status: int, errcode: str, message: str,
                 params: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status, self.errcode, self.message, self.params = status, errcode, message, params


class ClientFaultLog(logging.Filter):
    """aiohttp logs a request it cannot parse (framing, Content-Length, a body that fails to
    decompress after the answer) as an ERROR with a traceback; it is the client's fault, and
    anyone could fill the log with it: one INFO line, without the request's content."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, BadHttpMessage | web.RequestPayloadError):
            record.levelno, record.levelname = logging.INFO, logging.getLevelName(logging.INFO)
            record.msg, record.args = "malformed request refused (%s)", (type(exc).__name__,)
            record.exc_info = record.exc_text = None
        return True


def quiet_client_faults() -> None:
    server_log = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, ClientFaultLog) for f in server_log.filters):
        server_log.addFilter(ClientFaultLog())


def json_error(status: int, errcode: str, message: str, *, params: dict[str, Any] | None = None,
               **extra: Any) -> web.Response:
    """The JSON error: `message` is an English msgid, said in the language the request's
    Accept-Language prefers (Ukrainian by default); `params` fill its placeholders."""
    said = i18n.translations(i18n.API_LANGUAGE.get()).gettext(message)
    return web.json_response({"errcode": errcode, "error": said.format(**params) if params
                              else said, **extra}, status=status)


def said_in(exc: Exception, language: str) -> str:
    """A domain error's message in one language: the domain's refusals carry it untranslated."""
    if isinstance(exc, Refusal):
        return exc.text(language)
    uk, en = getattr(exc, "uk", None), getattr(exc, "en", None)
    if isinstance(uk, str) and isinstance(en, str):
        return uk if language == "uk" else en
    return str(exc)


def domain_status(exc: Exception) -> tuple[int, str]:
    """(status, errcode) of a domain error, from DOMAIN_ERRORS; an unlisted SittingError code is
    a 400 under its own code (a new code is a decision: list it)."""
    code = getattr(exc, "code", None)
    for cls, wanted, status, errcode in DOMAIN_ERRORS:
        if isinstance(exc, cls) and wanted in (None, code):
            return status, errcode
    return 400, code if isinstance(code, str) else "KB_BAD_REQUEST"


def domain_error(exc: Exception, status: int | None = None, errcode: str | None = None
                 ) -> web.Response:
    """A domain error as the JSON error, in the request's language, with the field at fault;
    its status and errcode from DOMAIN_ERRORS unless the caller's own table gives them."""
    mapped_status, mapped_code = domain_status(exc)
    status, errcode = status or mapped_status, errcode or mapped_code
    said = said_in(exc, i18n.API_LANGUAGE.get())
    field = getattr(exc, "field", None)
    return web.json_response({"errcode": errcode, "error": said,
                              **({"fields": {field: said}} if isinstance(field, str) else {})},
                             status=status)


def invalid(exc: ValidationError, errcode: str = "KB_INVALID") -> web.Response:
    """A body that fails its pydantic model: 422 with the reason per field (dotted path)."""
    fields = {".".join(map(str, e["loc"])) or "body": e["msg"] for e in exc.errors()}
    return json_error(422, errcode, "Invalid input", fields=fields)


@contextmanager
def body_errors() -> Iterator[None]:
    """Around code that reads or parses the request body: parser errors become BadInput."""
    try:
        yield
    except _CAUGHT as exc:
        for cls, status, errcode, message in BODY_ERRORS:
            if isinstance(exc, cls):
                raise BadInput(status, errcode, message) from exc
        raise  # pragma: no cover — every caught class is in the table


def check_length(request: web.Request, limit: int) -> None:
    """413 from the declared Content-Length, before any of the body is read."""
    if request.content_length is not None and request.content_length > limit:
        raise BadInput(413, "KB_TOO_LARGE", "The request body is larger than {limit} bytes",
                       params={"limit": limit})


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # NaN and Infinity are not in RFC 8259


async def read_json(request: web.Request) -> Any:
    """The body as JSON, within the app's body size limit; malformed input is BadInput."""
    check_length(request, MAX_BODY)
    with body_errors():
        return json.loads(await request.text(), parse_constant=_no_constant)


def _is_api(request: web.Request) -> bool:
    return request.path.startswith("/api/") or request.path in ("/healthz", "/readyz")


def _is_appservice(request: web.Request) -> bool:
    """The homeserver's endpoint keeps the Matrix appservice API's own error contract."""
    return request.path.startswith("/as/")


def N_(msgid: str) -> str:
    """Marks a msgid for Babel's extraction; the error page translates it."""
    return msgid


# What a person is told on the error page, by status (the API gets the technical message).
PAGE_MESSAGES = {
    400: N_("The request could not be read. Go back and send it again."),
    405: N_("This address does not accept this kind of request."),
    413: N_("The request is too large."),
    415: N_("The request's format or encoding is not supported."),
    429: N_("Too many submissions from your address. Please try again later."),
}
PAGE_DEFAULT = N_("The request was not accepted.")
# The store away: what the API and the page say. It does not say "nothing was stored": a commit
# cut off midway may have been made (a retry with the same idempotency key finds out).
STORE_UNAVAILABLE = N_("The database is not answering right now. Please try again shortly.")
PAGE_MESSAGES[503] = STORE_UNAVAILABLE
RETRY_AFTER = 5  # seconds: a restart of PostgreSQL takes a few
SAY_EVERY = 60.0  # seconds between the log's lines about the store being away
_store_said_at = float("-inf")
INTERNAL = N_("Internal error; it has been logged")  # the 500 page and the API's 500


def _error_page(request: web.Request, status: int, headers: dict[str, str] | None = None
                ) -> web.Response:
    """The site's translated error page, with the site around it."""
    response = render(request, "error.html", {"message": PAGE_MESSAGES.get(status, PAGE_DEFAULT)},
                      status=status)
    response.headers.update(headers or {})
    return response


def _domain_answer(request: web.Request, exc: Exception) -> web.Response:
    if _is_api(request):
        return domain_error(exc)
    status, _ = domain_status(exc)
    if status == 404:
        return render(request, "404.html", {}, status=404)
    return _error_page(request, status)


def _kept_headers(exc: web.HTTPException) -> dict[str, str]:
    """An HTTP error's own headers (Allow on a 405, Retry-After, Location) minus the body's."""
    dropped = {hdrs.CONTENT_TYPE, hdrs.CONTENT_LENGTH}
    return {k: v for k, v in exc.headers.items() if k not in dropped}


def _closing(request: web.Request, response: web.Response) -> web.Response:
    """A refused body may be unread or undecodable: answer, then close the connection. A body
    stream that failed is marked finished, or aiohttp would read on after the answer (to keep
    the connection) only to log the same decoding error again."""
    response.force_close()
    if request.content.exception() is not None:
        request.content.feed_eof()
    return response


async def _guard_body(request: web.Request) -> None:
    """Checks every body before its handler: a content coding aiohttp cannot undo is a 415; a
    form body is parsed here, once, under the mapping (handlers get aiohttp's cached result)."""
    if not request.can_read_body:
        return
    if request.headers.get(hdrs.CONTENT_ENCODING, "").strip().lower() not in CONTENT_CODINGS:
        raise BadInput(415, "KB_UNSUPPORTED_ENCODING", "Unsupported Content-Encoding")
    if request.content_type in ("", "application/x-www-form-urlencoded"):  # what post() parses
        check_length(request, MAX_BODY)
        with body_errors():
            await request.post()


def _internal_error_page(request: web.Request) -> web.Response:
    """The bare 500 page (no template: rendering may be what failed), in the page's language."""
    lang = i18n.request_locale(request)
    said = i18n.translations(lang).gettext(INTERNAL)
    return web.Response(status=500, content_type="text/html", text=(
        f'<!doctype html><html lang="{lang}"><meta charset="utf-8"><title>{said}</title>'
        f"<h1>{said}</h1></html>"))


def _store_unavailable(request: web.Request, exc: Exception) -> web.Response:
    """The store away: 503 with Retry-After, and a line in the log now and then (not per request)."""
    global _store_said_at
    now = time.monotonic()
    if now - _store_said_at >= SAY_EVERY:
        _store_said_at = now
        log.warning("the database does not answer (%s on %s %s): answering 503 until it does",
                    type(exc).__name__, request.method, request.path)
    headers = {"Retry-After": str(RETRY_AFTER)}
    if _is_api(request) or _is_appservice(request):
        response = json_error(503, "KB_STORE_UNAVAILABLE", STORE_UNAVAILABLE,
                              retry_after=RETRY_AFTER)
        response.headers.update(headers)
        return response
    return _error_page(request, 503, headers)


@web.middleware
async def error_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    """No stack trace ever reaches a user: bad input is a 4xx, unexpected errors a stable 500."""
    if _is_api(request):
        i18n.API_LANGUAGE.set(i18n.accepted_locale(request.headers.get(hdrs.ACCEPT_LANGUAGE, "")))
    try:
        if not _is_appservice(request):
            await _guard_body(request)
        return await handler(request)
    except DOMAIN_CLASSES as exc:
        return _domain_answer(request, exc)
    except BadInput as exc:
        log.info("refused a request body on %s %s: %s", request.method, request.path, exc.errcode)
        if _is_api(request) or _is_appservice(request):
            return _closing(request, json_error(exc.status, exc.errcode, exc.message,
                                                params=exc.params))
        return _closing(request, _error_page(request, exc.status))
    except web.HTTPException as exc:
        if exc.status < 400 or _is_appservice(request) or (exc.status == 404 and not _is_api(request)):
            raise  # redirects; the appservice's own errors; the 404 page is not_found_page's
        if _is_api(request) and exc.content_type != "application/json":
            response = json_error(exc.status, "KB_HTTP_" + str(exc.status), exc.reason)
            response.headers.update(_kept_headers(exc))
            return response
        if not _is_api(request) and exc.content_type == "text/plain":  # aiohttp's bare text
            return _error_page(request, exc.status, _kept_headers(exc))
        raise
    except Exception as exc:
        if unavailable(exc):
            return _store_unavailable(request, exc)
        log.exception("unhandled error on %s %s", request.method, request.path)
        if _is_api(request):
            return json_error(500, "KB_INTERNAL", INTERNAL)
        return _internal_error_page(request)
