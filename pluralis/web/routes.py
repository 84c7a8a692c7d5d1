"""The collection app's route table: every URL, its methods and its view, in one list.

Participant views are in :mod:`pluralis.web.participant`, admin views in :mod:`pluralis.web.admin`;
:func:`pluralis.web.app.create_app` registers the table in order. Static files are mounted at ``/static``.

Example
-------
>>> [(r.path, r.methods) for r in ROUTES][:3]
[('/', ('GET',)), ('/start', ('POST',)), ('/resume/{token}', ('GET',))]
>>> len({(r.path, m) for r in ROUTES for m in r.methods}) == sum(len(r.methods) for r in ROUTES)
True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from pluralis.web import admin, participant


class Route(NamedTuple):
    """One URL of the app: its path (with ``{parameters}``), HTTP methods and view.

    Example
    -------
    >>> Route("/healthz", ("GET",), admin.healthz).methods
    ('GET',)
    """

    path: str
    methods: tuple[str, ...]
    view: Callable[..., Any]


GET: tuple[str, ...] = ("GET",)
POST: tuple[str, ...] = ("POST",)

#: Every route of the app, participant pages first.
ROUTES: list[Route] = [
    # participants
    Route("/", GET, participant.landing),
    Route("/start", POST, participant.start),
    Route("/resume/{token}", GET, participant.resume),
    Route("/resume/{token}", POST, participant.resume_confirmed),
    Route("/study", GET, participant.study),
    Route("/study/consent", POST, participant.consent),
    Route("/study/survey", POST, participant.survey),
    Route("/study/start", POST, participant.start_conversation),
    Route("/study/rate", POST, participant.rate),
    Route("/study/followup", POST, participant.follow_up),
    Route("/study/finish", POST, participant.finish),
    Route("/study/feedback", POST, participant.feedback),
    # operators
    Route("/healthz", GET, admin.healthz),
    # admin
    Route("/admin", GET, admin.dashboard),
    Route("/admin/login", POST, admin.login),
    Route("/admin/logout", POST, admin.logout),
    Route("/admin/api/summary", GET, admin.summary),
    Route("/admin/api/rankings", GET, admin.rankings),
    Route("/admin/api/representativeness", GET, admin.representativeness),
    Route("/admin/api/quota", GET, admin.quota),
    Route("/admin/api/failures", GET, admin.failures),
    Route("/admin/plot/{name}.svg", GET, admin.plot),
    Route("/admin/export.zip", GET, admin.export),
    Route("/admin/participants/{user_id}/delete", POST, admin.delete),
]


__all__ = ["GET", "POST", "ROUTES", "Route"]
