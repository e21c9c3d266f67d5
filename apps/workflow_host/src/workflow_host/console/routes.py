"""The console's routes under ``/console``: thin; pages come from :mod:`.views`, sessions
from :mod:`.session`, who may decide from :mod:`.policy`.

Every domain error (``snacktopus_core.errors``) becomes an HTML page with the status the
shared table gives it (401 sign in, 403 not yours, 404 unknown order, 409 already decided,
503 try again), never a stack trace.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from snacktopus_core import errors, sse
from snacktopus_core.errors import NotAuthenticated, SnacktopusError
from sse_starlette.sse import EventSourceResponse

from workflow_host.console import session as sessions
from workflow_host.console import views
from workflow_host.console.filters import FILTERS
from workflow_host.console.session import Session

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
PREFIX = "/console"
LIVE_EVERY_S = 1.0

templates = Jinja2Templates(directory=HERE / "templates")
templates.env.filters.update(FILTERS)


class SignInFirst(Exception):
    """No session, or one nobody signed into: the browser is sent to the sign-in page."""


class ConsoleRoute(APIRoute):
    """Renders domain errors as HTML pages (the API's handler answers them as JSON)."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def run(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInFirst:
                return RedirectResponse(f"{PREFIX}/login", status_code=303)
            except SnacktopusError as exc:
                return error_page(request, exc)

        return run


router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)


def page(request: Request, name: str, sess: Session | None, status: int = 200, **ctx: Any):
    csrf = sessions.csrf_token(sess) if sess else None
    context = {"session": sess, "csrf": csrf, "prefix": PREFIX, **ctx}
    return templates.TemplateResponse(request, name, context, status_code=status)


def fragment(request: Request, name: str, sess: Session, **ctx: Any) -> str:
    """A template's HTML with a page's context, for a part of a page sent as an event."""
    context = {"request": request, "session": sess, "prefix": PREFIX, **ctx}
    return templates.get_template(name).render(csrf=sessions.csrf_token(sess), **context)


def error_page(request: Request, exc: SnacktopusError) -> Response:
    row = errors.spec(exc)
    response = page(request, "error.html", None, row.status, title=row.title, detail=str(exc))
    if "Retry-After" in row.headers:
        response.headers["Retry-After"] = row.headers["Retry-After"]
    if isinstance(exc, NotAuthenticated):
        response.delete_cookie(sessions.COOKIE, path=PREFIX)
    return response


def current(request: Request) -> Session | None:
    return sessions.decode(request.cookies.get(sessions.COOKIE))


def signed_in(request: Request) -> Session:
    sess = current(request)  # NotAuthenticated (401 page) when forged or expired
    if sess is None or not sess.signed_in:
        raise SignInFirst()
    return sessions.verify(sess)


Approver = Annotated[Session, Depends(signed_in)]
Csrf = Annotated[str, Form(alias="csrf_token")]


def with_cookie(response: Response, sess: Session) -> Response:
    response.set_cookie(value=sessions.encode(sess), **sessions.cookie_args())
    return response


# ------------------------------------------------------------------ sign-in and out
@router.get("", response_class=HTMLResponse)
def home() -> Response:
    return RedirectResponse(f"{PREFIX}/inbox", status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> Response:
    try:
        sess = current(request) or sessions.anonymous()
    except NotAuthenticated:
        sess = sessions.anonymous()  # a stale cookie on the sign-in page: start afresh
    return with_cookie(page(request, "login.html", sess), sess)


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    csrf: Csrf,
    approver: Annotated[str, Form()] = "",
    token: Annotated[str, Form()] = "",
) -> Response:
    anon = current(request)
    sessions.check_csrf(anon, csrf)
    try:
        sess = sessions.sign_in(approver, token)
    except SnacktopusError as exc:
        row = errors.spec(exc)
        status = 401 if row.status == 403 else row.status
        return page(request, "login.html", anon, status, error=str(exc), approver=approver)
    return with_cookie(RedirectResponse(f"{PREFIX}/inbox", status_code=303), sess)


@router.post("/logout", response_class=HTMLResponse)
def logout(request: Request, csrf: Csrf) -> Response:
    sessions.check_csrf(current(request), csrf)
    response = RedirectResponse(f"{PREFIX}/login", status_code=303)
    response.delete_cookie(sessions.COOKIE, path=PREFIX)
    return response


# ------------------------------------------------------------------------- inbox
def digest(signature: str) -> str:
    """What a live page and its event stream compare, so a page refetches only changes."""
    return hashlib.sha256(signature.encode()).hexdigest()[:16]


@router.get("/inbox", response_class=HTMLResponse)
def inbox(request: Request, sess: Approver) -> Response:
    version = digest(views.inbox_signature())
    rows, recent = views.inbox(), views.recent()
    return page(request, "inbox.html", sess, rows=rows, recent=recent, version=version)


@router.get("/inbox/rows", response_class=HTMLResponse)
def inbox_rows(request: Request, sess: Approver) -> Response:
    return page(request, "_inbox.html", sess, rows=views.inbox(), recent=views.recent())


@router.get("/inbox/events")
async def inbox_events(request: Request, sess: Approver) -> Response:
    return EventSourceResponse(_changes(request, views.inbox_signature))


async def _changes(request: Request, signature: Callable[[], str]) -> AsyncIterator[dict]:
    """A ``changed`` event now and whenever ``signature`` changes: the page then fetches
    its live part again."""
    last = None
    while not await request.is_disconnected():
        try:
            now = await asyncio.to_thread(signature)
        except SnacktopusError:
            now = last  # the store blinked: keep the page as it is, try again
        if now != last:
            last = now
            yield {"event": "changed", "data": digest(str(now))}
        await asyncio.sleep(LIVE_EVERY_S)


# ------------------------------------------------------------------------- orders
@router.get("/orders/{order_id}", response_class=HTMLResponse)
def order(request: Request, order_id: str, sess: Approver) -> Response:
    o = views.order_page(order_id, sess.approver)
    return page(request, "order.html", sess, o=o, version=digest(o.signature))


@router.get("/orders/{order_id}/live", response_class=HTMLResponse)
def order_live(request: Request, order_id: str, sess: Approver) -> Response:
    return page(request, "_order.html", sess, o=views.order_page(order_id, sess.approver))


@router.get("/orders/{order_id}/events")
async def order_events(request: Request, order_id: str, sess: Approver) -> Response:
    await asyncio.to_thread(views.order_page, order_id, sess.approver)  # 404 first
    return EventSourceResponse(_changes(request, lambda: views.order_signature(order_id)))


@router.post("/orders/{order_id}/decision", response_class=HTMLResponse)
def decide(
    request: Request,
    order_id: str,
    sess: Approver,
    csrf: Csrf,
    decision: Annotated[str, Form()] = "",
    comment: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    sessions.check_csrf(sess, csrf)
    if decision not in ("approve", "reject"):
        return error_page(request, errors.Forbidden(f"'{decision}' is not a decision"))
    views.decide(order_id, sess.approver, decision, comment.strip())
    return RedirectResponse(f"{PREFIX}/orders/{order_id}?decided={decision}", status_code=303)


# ---------------------------------------------------------------------- requester
@router.get("/ask", response_class=HTMLResponse)
def ask_form(request: Request, sess: Approver) -> Response:
    return page(request, "ask.html", sess)


@router.post("/ask", response_class=HTMLResponse)
async def ask(
    request: Request, sess: Approver, csrf: Csrf, question: Annotated[str, Form()] = ""
) -> Response:
    sessions.check_csrf(sess, csrf)
    client = request.app.state.sidecar_http
    try:
        if sse.wants_stream(request.headers.get("accept")):
            return await _ask_streamed(request, sess, question)
        answer = await views.ask(client, sess.approver, question)
    except ValueError as exc:
        return page(request, "ask.html", sess, 422, error=str(exc), question=question)
    return page(request, "ask.html", sess, answer=answer, question=question)


async def _ask_streamed(request: Request, sess: Session, question: str) -> Response:
    """The page's script asked for the answer as it comes (``Accept: text/event-stream``):
    each of agent-shell's events becomes the answer's HTML so far, so the basket shows
    while the model still writes. A refusal is the page's 422, as without the script."""
    events = views.ask_streamed(request.app.state.sidecar_http, sess.approver, question)
    first = await anext(events)  # agent-shell's refusals raise here, before any event

    async def frames() -> AsyncIterator[str]:
        async for name, answer in _chain(first, events):
            ctx: dict[str, Any] = {"question": question}
            if name == "error":
                ctx["stream_error"] = f"the answer failed: {answer.get('detail')}"
            else:
                ctx["answer"] = answer
            yield sse.frame(name, fragment(request, "_answer.html", sess, **ctx))

    return StreamingResponse(frames(), media_type=sse.MEDIA_TYPE, headers=sse.HEADERS)


async def _chain(first: Any, rest: AsyncIterator[Any]) -> AsyncIterator[Any]:
    yield first
    async for item in rest:
        yield item


@router.post("/orders", response_class=HTMLResponse)
def place(
    request: Request,
    sess: Approver,
    csrf: Csrf,
    text: Annotated[str, Form(alias="request")] = "",
    budget_usd: Annotated[str, Form()] = "",
    headcount: Annotated[str, Form()] = "",
) -> Response:
    sessions.check_csrf(sess, csrf)
    try:
        order_id = views.place(request, sess.approver, text, budget_usd, headcount)
    except ValueError as exc:
        return page(request, "ask.html", sess, 422, error=str(exc), question=text)
    return RedirectResponse(f"{PREFIX}/orders/{order_id}", status_code=303)
