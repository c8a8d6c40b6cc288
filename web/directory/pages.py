"""The directory's pages: /deputies (everyone, with the search form), /deputies/{id} (the
person's card followed by their voting record from web.votes) and /deputies/{id}/photo."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from web import cache
from web.directory import common
from web.pages import ROSTER, SITE, render
from web.votes.pages import record_section

__all__ = ["add_routes"]

# The photo's URL carries its version: a matching one may be kept for a year, any other
# (an old link after the photo changed) is checked each time.
PHOTO_KEPT = "public, max-age=31536000, immutable"
PHOTO_CHECKED = "no-cache"


def _choices(request: web.Request) -> dict[str, Any]:
    roster = request.app[ROSTER]
    return {"factions": sorted({d.faction for d in roster.deputies if d.faction}),
            "commissions": [(c.id, c.name) for c in roster.commissions],
            "districts": sorted({d.district for d in roster.deputies if d.district})}


async def directory(request: web.Request) -> web.StreamResponse:
    """Everyone, or the search's matches. The roster is the page's revision (`kabinet roster
    apply` replaces it whole); a search is rendered for its request only, so that queries
    cannot crowd the pages out of the cache."""
    roster = request.app[ROSTER]
    query = common.lenient_query(request)

    async def page() -> web.Response:
        people = [common.out(request, roster, d) for d in common.found(roster, query)]
        return render(request, "directory.html", {
            "people": people, "query": query, "total": len(roster.deputies),
            "seats": roster.seats, "searched": query != type(query)(), **_choices(request)})

    if query != type(query)():
        return cache.conditional(request, await page())
    return await cache.serve(request, ("deputies",),
                             (cache.Same(roster), cache.Same(request.app[SITE])), page)


async def person(request: web.Request) -> web.StreamResponse:
    """A deputy's card and record; the head's and a former member's record; 404 for anyone
    else (the secretariat is not in the directory)."""
    roster = request.app[ROSTER]
    member_id = request.match_info["id"]
    deputy = next((d for d in roster.deputies if d.id == member_id), None)
    section = await record_section(request, member_id)
    if deputy is None and section is None:
        raise web.HTTPNotFound()  # the 404 page (web.app's not_found_page)
    card = common.out(request, roster, deputy) if deputy else None
    return cache.conditional(request, render(request, "directory_person.html", {
        "card": card, "colleague": common.colleague(request),
        "record_section": (section or {}).get("record_section"), **_who(request, member_id, card, section)}))


def _who(request: web.Request, member_id: str, card: Any, section: dict[str, Any] | None
         ) -> dict[str, Any]:
    """The heading's name and role: the roster's for a deputy, the record's otherwise."""
    if card is not None:
        return {"name": card.name, "role": "deputy", "position": None, "faction": card.faction}
    rs = (section or {})["record_section"]
    return {"name": rs["name"], "role": rs["role"], "position": rs["position"],
            "faction": rs["faction"]}


async def photo(request: web.Request) -> web.StreamResponse:
    roster = request.app[ROSTER]
    deputy = next((d for d in roster.deputies if d.id == request.match_info["id"]), None)
    found = common.photo_of(deputy) if deputy else None
    if found is None:
        raise web.HTTPNotFound()
    etag = f'"{found.version}"'
    kept = request.query.get("v") == found.version
    headers = {"ETag": etag, "Cache-Control": PHOTO_KEPT if kept else PHOTO_CHECKED}
    if cache.matches(request, etag):
        return web.Response(status=304, headers=headers)
    return web.Response(body=found.body, content_type=found.content_type, headers=headers)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/deputies", directory, name="deputies")
    app.router.add_get("/deputies/{id}", person, name="deputy")
    app.router.add_get("/deputies/{id}/photo", photo, name="deputy_photo")
