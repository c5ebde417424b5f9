"""The one module that speaks HTTP (aiohttp, imported on first use: `poller` without the web
extra still runs). GET and HEAD only; every page is computed in a thread (librrd and pygal
block), so one slow graph never stalls the other requests. Off loopback every request needs
the password (HTTP basic auth)."""

from __future__ import annotations

import asyncio
import sys
import time
from typing import TYPE_CHECKING, Any

from poller.config.model import WebSettings
from poller.web.auth import REALM, authorized
from poller.web.fleet import IndexSource
from poller.web.rrdcached import Rrdcached
from poller.web.series import RrdReader
from poller.web.site import Reply, Site

if TYPE_CHECKING:
    from aiohttp import web

#: on every answer: no framing, no sniffing, no referrer, scripts and styles from here only
#: (pygal's charts carry their own <style>, hence 'unsafe-inline' for styles, never scripts)
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self' "
                               "'unsafe-inline'; img-src 'self'; form-action 'self'; "
                               "base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


def make_app(site: Site, user: str, password: str | None) -> web.Application:
    from aiohttp import web

    @web.middleware
    async def guard(request: web.Request, handler: Any) -> web.StreamResponse:
        if password is not None and not authorized(
                request.headers.get("Authorization"), user, password):
            return web.Response(status=401, text="authentication required\n", headers={
                "WWW-Authenticate": f'Basic realm="{REALM}", charset="UTF-8"', **HEADERS})
        response: web.StreamResponse = await handler(request)
        return response

    async def page(request: web.Request) -> web.Response:
        query = {key: request.query[key] for key in request.query}
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        reply: Reply = await loop.run_in_executor(None, site.handle, request.path, query)
        # the page's own cost, for a browser's network panel and for measurements
        timing = f"page;dur={(time.perf_counter() - started) * 1000:.1f}"
        return web.Response(status=reply.status, body=reply.body,
                            headers={"Content-Type": reply.content_type, **HEADERS,
                                     "Server-Timing": timing, **reply.headers})

    app = web.Application(middlewares=[guard])
    app.router.add_get("/{tail:.*}", page)  # add_get answers HEAD too
    return app


def serve(settings: WebSettings, password: str | None, shared: IndexSource | None = None,
          shared_from: str = "") -> int:
    """Serve until SIGINT or SIGTERM (aiohttp's run_app handles both and drains). `shared`:
    the other hosts' fleet index (with [cluster]), `shared_from` says where from."""
    from aiohttp import web

    rrdcached = Rrdcached(settings.rrdcached, settings.history_rrdcached)
    app = make_app(Site(settings.directory, RrdReader(rrdcached), shared=shared),
                   settings.user, password)
    through = f" through rrdcached {settings.rrdcached}" if settings.rrdcached else ""
    through += f", fleet index also from {shared_from}" if shared is not None else ""
    scheme = "with a password" if password is not None else "loopback, no password"
    web.run_app(app, host=settings.host, port=settings.port, access_log=None,
                print=lambda _: print(f"poller web: http://{settings.listen}/ ({scheme}), "
                                      f"history {settings.directory}{through}",
                                      file=sys.stderr,
                                      flush=True))
    return 0
