"""The collection web app (FastAPI, server-rendered) behind ``pluralis serve STUDY.toml``.

- :mod:`pluralis.web.app`: :func:`~pluralis.web.app.create_app` assembles the app (middleware, static files,
  the route table);
- :mod:`pluralis.web.routes`: the route table, every URL with its methods and view;
- :mod:`pluralis.web.participant`: the participant's views (landing, consent, survey, conversations, ratings,
  feedback, resume, completion);
- :mod:`pluralis.web.admin`: the admin's views (login, dashboard, export, JSON API);
- :mod:`pluralis.web.dashboard`: the dashboard's data, including the live "whose preferences?" PRC rankings
  with bootstrap intervals, group contrasts, representativeness and the raked ranking;
  :mod:`pluralis.web.plots`: its SVG plots;
- :mod:`pluralis.web.availability`: models that went away mid-study (replacements, finishing early);
- :mod:`pluralis.web.state`: the one object the views share (``app.state.collect``);
- :mod:`pluralis.web.common`: rendering, forms, cookies and CSRF helpers;
- :mod:`pluralis.web.repository`: reads and writes the store; :mod:`pluralis.web.security`: keys, rate limits,
  security headers, cross-site checks; :mod:`pluralis.web.proxy`: trusted reverse proxies and the public URL.
"""
