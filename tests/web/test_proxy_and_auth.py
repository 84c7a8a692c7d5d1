"""Operations security over HTTP: the resume confirmation is bound to the browser (login CSRF), cross-site
form posts are refused, forwarded headers count only from trusted proxies (links, Secure cookies and the
per-address join limit follow them), links use the public URL, admin token guesses are rate-limited, and a
``javascript:`` redirect never becomes a link. (The attack in a real browser: test_browser_operations.py.)"""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from pluralis.collect.config import CompletionConfig, StudyConfig
from pluralis.store import Store
from pluralis.web.app import create_app
from tests.collect_helpers import FORM_HEADERS, csrf_of

ADMIN = "admin-token-for-tests-123"
RESUME_RE = re.compile(r'<code class="resume">([^<]+)</code>')


def make_app(tmp_path, config: StudyConfig | None = None, **kwargs):
    return create_app(
        config or StudyConfig(),
        Store.open(tmp_path / "s.sqlite"),
        admin_token=ADMIN,
        secret_key=b"k" * 32,
        models={},
        **kwargs,
    )


def join(client: TestClient, headers: dict | None = None):
    page = client.get("/", headers=headers)
    return client.post("/start", data={"csrf": csrf_of(page.text)}, headers=headers, follow_redirects=False)


class Browser:
    """Requests with the cookies a browser on the public HTTPS address would keep (Secure ones too)."""

    def __init__(self, client: TestClient | httpx.Client, headers: dict | None = None):
        self.client, self.headers, self.jar = client, dict(headers or {}), {}

    def send(self, method: str, url: str, **kwargs):
        cookie = "; ".join(f"{k}={v}" for k, v in self.jar.items())
        headers = {**self.headers, **kwargs.pop("headers", {}), **({"Cookie": cookie} if cookie else {})}
        self.client.cookies.clear()
        r = self.client.request(method, url, headers=headers, follow_redirects=False, **kwargs)
        for line in r.headers.get_list("set-cookie"):
            name, _, rest = line.partition("=")
            self.jar[name] = rest.split(";", 1)[0]
        return r

    def join(self):
        page = self.send("GET", "/")
        return self.send("POST", "/start", data={"csrf": csrf_of(page.text)})


# --- 1. login CSRF through the resume link -----------------------------------------------------------


def test_resume_confirmation_is_bound_to_the_browser_that_saw_it(tmp_path):
    app = make_app(tmp_path)
    attacker_token, _ = app.state.collect.repo.create_session()
    with TestClient(app) as attacker, TestClient(app) as victim:
        assert join(victim).status_code == 303
        victim_token = victim.cookies["pluralis_p"]
        # the attacker opens his own resume link and copies the form's token ...
        page = attacker.get(f"/resume/{attacker_token}")
        assert page.status_code == 200 and "pluralis_resume" in attacker.cookies
        forged = csrf_of(page.text)
        # ... an old-style CSRF token (HMAC of the participant token alone) is no longer accepted either
        old_style = app.state.collect.secrets.csrf_for(attacker_token)
        for csrf in (forged, old_style):
            r = victim.post(f"/resume/{attacker_token}", data={"csrf": csrf}, follow_redirects=False)
            assert r.status_code == 403 and "set-cookie" not in r.headers
        # even when the victim has a resume cookie of her own (she once opened her own link)
        victim.get(f"/resume/{attacker_token}x")  # 404 page sets nothing
        victim.cookies.set("pluralis_resume", "victims-own-nonce")
        r = victim.post(f"/resume/{attacker_token}", data={"csrf": forged}, follow_redirects=False)
        assert r.status_code == 403
        assert victim.cookies["pluralis_p"] == victim_token
        # the attacker himself (same browser as the confirmation page) can still resume
        r = attacker.post(f"/resume/{attacker_token}", data={"csrf": forged}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/study"
        assert attacker.cookies["pluralis_p"] == attacker_token
    assert "Strict" in page.headers["set-cookie"] or "strict" in page.headers["set-cookie"]


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
    ],
)
def test_cross_site_posts_are_refused_before_any_view(tmp_path, headers):
    app = make_app(tmp_path)
    token, _ = app.state.collect.repo.create_session()
    with TestClient(app) as c:
        page = c.get(f"/resume/{token}")
        csrf = csrf_of(page.text)
        r = c.post(f"/resume/{token}", data={"csrf": csrf}, headers=headers, follow_redirects=False)
        assert r.status_code == 403 and "another website" in r.text and "pluralis_p" not in c.cookies
        landing = c.get("/")
        assert c.post("/start", data={"csrf": csrf_of(landing.text)}, headers=headers).status_code == 403
        # the same forms from the study's own pages go through
        same = {"Sec-Fetch-Site": "same-origin", "Origin": "http://testserver"}
        r = c.post(f"/resume/{token}", data={"csrf": csrf}, headers=same, follow_redirects=False)
        assert r.status_code == 303 and c.cookies["pluralis_p"] == token
    assert app.state.collect.repo.counts()["events"] == 2  # joined + one resumed: the refused posts did nothing


# --- 2. reverse proxies --------------------------------------------------------------------------------

FORGED = {
    "X-Forwarded-For": "203.0.113.50",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "evil.example",
}


def test_forwarded_headers_from_an_untrusted_peer_are_ignored(tmp_path):
    cfg = StudyConfig.model_validate({"limits": {"joins_per_minute_per_ip": 2}})
    app = make_app(tmp_path, cfg)  # no trusted proxies
    codes = []
    for i in range(3):
        with TestClient(app, client=("198.51.100.20", 1000 + i)) as c:
            headers = {**FORGED, "X-Forwarded-For": f"203.0.113.{i}"}  # a new "address" each time
            r = join(c, headers)
            codes.append(r.status_code)
            if r.status_code == 303:
                page = c.get("/study", headers=headers).text
                assert RESUME_RE.search(page).group(1).startswith("http://testserver/resume/")
                assert "evil.example" not in page
                assert "secure" not in r.headers["set-cookie"].lower()
    assert codes == [303, 303, 429]  # one address however many it claims


def test_forwarded_headers_from_a_trusted_proxy_give_links_cookies_and_limits(tmp_path):
    cfg = StudyConfig.model_validate(
        {"limits": {"joins_per_minute_per_ip": 2}, "server": {"trusted_proxies": ["10.0.0.0/8"]}}
    )
    app = make_app(tmp_path, cfg)
    fwd = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "study.example.org"}
    results: dict[str, list[int]] = {}
    for client_ip in ("203.0.113.7", "203.0.113.8"):
        for i in range(3):
            with TestClient(app, client=("10.0.0.2", 2000 + i)) as c:
                # the client claims to be 1.2.3.4; the proxy appends what it saw: only that counts
                b = Browser(c, {**fwd, "X-Forwarded-For": f"1.2.3.4, {client_ip}"})
                r = b.join()
                results.setdefault(client_ip, []).append(r.status_code)
                if r.status_code == 303:
                    assert "secure" in r.headers["set-cookie"].lower()
                    page = b.send("GET", "/study").text
                    assert RESUME_RE.search(page).group(1).startswith("https://study.example.org/resume/")
    assert results == {"203.0.113.7": [303, 303, 429], "203.0.113.8": [303, 303, 429]}
    # a forwarded host with junk in it is not believed
    with TestClient(app, client=("10.0.0.2", 3000)) as c:
        b = Browser(c, {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Host": "evil.example/<x>"})
        assert b.join().status_code == 303
        page = b.send("GET", "/study").text
        assert "evil.example" not in page and RESUME_RE.search(page).group(1).startswith("http://testserver/")


def test_public_url_sets_links_redirects_and_the_accepted_origin(tmp_path):
    app = make_app(tmp_path, public_url="https://example.org/study1/")
    with TestClient(app) as c:
        b = Browser(c)
        landing = b.send("GET", "/")
        assert 'action="/study1/start"' in landing.text and 'href="/study1/static/style.css"' in landing.text
        r = b.send("POST", "/start", data={"csrf": csrf_of(landing.text)})
        assert r.status_code == 303 and r.headers["location"] == "/study1/study"
        assert "secure" in r.headers["set-cookie"].lower()
        page = b.send("GET", "/study").text
        token = b.jar["pluralis_p"]
        assert RESUME_RE.search(page).group(1) == f"https://example.org/study1/resume/{token}"
        assert 'action="/study1/study/consent"' in page
        # forms are accepted from the public origin, not from the internal address, in browsers without
        # Sec-Fetch-Site
        consent = {"csrf": csrf_of(page), "consent": "yes", "consent_age": "yes"}
        internal = b.send("POST", "/study/consent", data=consent, headers={"Origin": "http://testserver"})
        assert internal.status_code == 403
        public = b.send("POST", "/study/consent", data=consent, headers={"Origin": "https://example.org"})
        assert public.status_code == 303 and public.headers["location"] == "/study1/study"
        # the admin's cookie is scoped to the path the browser sees
        login = b.send("GET", "/admin")
        assert 'action="/study1/admin/login"' in login.text
        r = b.send("POST", "/admin/login", data={"csrf": csrf_of(login.text), "token": ADMIN})
        assert r.headers["location"] == "/study1/admin" and "Path=/study1/admin" in r.headers["set-cookie"]


def test_serve_refuses_a_bad_public_url_or_proxy_list(tmp_path):
    from pluralis.cli import app as cli

    study = tmp_path / "study.toml"
    from pluralis.collect.config import study_to_toml

    study.write_text(study_to_toml(StudyConfig()))
    runner = CliRunner()
    bad_url = runner.invoke(
        cli, ["serve", str(study), "--db", str(tmp_path / "x.sqlite"), "--public-url", "javascript:x"]
    )
    assert bad_url.exit_code == 2 and "public_url must be an http:// or https:// address" in bad_url.output
    bad_ips = runner.invoke(
        cli, ["serve", str(study), "--db", str(tmp_path / "x.sqlite"), "--forwarded-allow-ips", "10.0.0.0/8,proxy"]
    )
    assert bad_ips.exit_code == 2 and "'proxy' is not an IP address" in bad_ips.output
    bad_file = tmp_path / "bad.toml"
    bad_file.write_text(study_to_toml(StudyConfig()).replace("trusted_proxies = []", 'trusted_proxies = ["everyone"]'))
    r = runner.invoke(cli, ["serve", str(bad_file), "--db", str(tmp_path / "y.sqlite")])
    assert r.exit_code == 2 and "server.trusted_proxies" in r.output


# --- 3. admin token guesses and redirect addresses ------------------------------------------------------


def test_admin_token_guesses_are_rate_limited_per_address_and_overall(tmp_path):
    app = make_app(tmp_path)
    guess = {"Authorization": "Bearer not-the-token"}
    right = {"Authorization": "Bearer " + ADMIN}
    with TestClient(app, client=("192.0.2.1", 1)) as c:
        codes = [c.get("/admin/api/summary", headers=guess).status_code for _ in range(12)]
        assert codes == [401] * 10 + [429] * 2
        r = c.get("/admin/api/summary", headers=right)  # not even a right guess is checked now
        assert r.status_code == 429 and 1 <= int(r.headers["retry-after"]) <= 6  # one more guess per 6 s
        assert c.get("/admin/export.zip", headers=right).status_code == 429
        assert c.get("/admin", headers=guess).status_code == 429
    with TestClient(app, client=("192.0.2.2", 1)) as other:
        assert other.get("/admin/api/summary", headers=right).status_code == 200
        csrf = other.get("/admin").cookies["pluralis_csrf"]
        ok = other.post("/admin/login", data={"csrf": csrf, "token": ADMIN}, follow_redirects=False)
        assert ok.status_code == 303
    # guessing from many addresses: the overall limit (100 a minute) stops it too
    for i in range(3, 15):
        with TestClient(app, client=(f"192.0.2.{i}", 1)) as c:
            for _ in range(9):
                c.get("/admin/api/summary", headers=guess)
    with TestClient(app, client=("198.51.100.1", 1)) as fresh:
        r = fresh.get("/admin/api/summary", headers=right)
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        # ... while an admin already signed in (a valid admin cookie) keeps working
        fresh.cookies.set("pluralis_admin", app.state.collect.secrets.admin_cookie(), path="/admin")
        assert fresh.get("/admin/api/summary").status_code == 200


def test_admin_login_form_guesses_are_rate_limited(tmp_path):
    app = make_app(tmp_path)
    with TestClient(app, client=("192.0.2.9", 1)) as c:
        csrf = c.get("/admin").cookies["pluralis_csrf"]
        codes = [
            c.post("/admin/login", content=f"csrf={csrf}&token=guess{i}", headers=FORM_HEADERS).status_code
            for i in range(11)
        ]
        assert codes == [401] * 10 + [429]
        r = c.post("/admin/login", content=f"csrf={csrf}&token={ADMIN}", headers=FORM_HEADERS)
        assert r.status_code == 429 and "retry-after" in r.headers and "Too many failed attempts" in r.text


def test_a_javascript_redirect_never_becomes_a_link(tmp_path):
    # built without validation, as if the study file's check were bypassed: the page still refuses to link it
    for bad, good in (("javascript:alert(document.cookie)", None), ("https://app.prolific.com/done?cc=X", True)):
        cfg = StudyConfig().model_copy(update={"completion": CompletionConfig.model_construct(redirect_url=bad)})
        (tmp_path / bad.split(":")[0]).mkdir()
        app = make_app(tmp_path / bad.split(":")[0], cfg)
        token, session = app.state.collect.repo.create_session()
        from pluralis.web.participant import study_page

        session.state.step = session.state.step.COMPLETE
        session.state.completion_code = "ABC123"

        class Req:
            pass

        req = Req()
        req.app = app
        req.base_url = "http://testserver/"
        html = study_page(req, token, session).body.decode()
        assert "javascript:" not in html
        assert ("Return to the recruitment platform" in html) is bool(good)


@pytest.mark.slow
def test_pluralis_serve_behind_a_proxy_on_the_command_line(tmp_path):
    """The real server: uvicorn's own proxy handling is off, the study's trusted proxy is believed."""
    from pluralis.collect.config import study_to_toml
    from tests.collect_helpers import Proc, Server, serve_cmd

    study = tmp_path / "study.toml"
    cfg = StudyConfig.model_validate({"limits": {"joins_per_minute_per_ip": 1}})
    study.write_text(study_to_toml(cfg))
    args = ["--public-url", "https://study.example.org", "--forwarded-allow-ips", "127.0.0.1", *Server.TEST_FLAGS]
    proc = Proc(
        [*serve_cmd(), "serve", str(study), "--db", str(tmp_path / "s.sqlite"), "--port", "0", *args],
        env={"PLURALIS_ADMIN_TOKEN": ADMIN},
    )
    try:
        url = proc.wait_for_line("listening on", 60).split("listening on", 1)[1].strip()
        assert any("public address: https://study.example.org (trusted proxies: 127.0.0.1)" in x for x in proc.lines)
        codes = []
        for client in ("203.0.113.1", "203.0.113.2", "203.0.113.2"):
            with httpx.Client(base_url=url) as c:
                b = Browser(c, {"X-Forwarded-For": client, "X-Forwarded-Proto": "https"})
                r = b.join()
                codes.append(r.status_code)
                if r.status_code == 303:
                    page = b.send("GET", "/study").text
                    assert RESUME_RE.search(page).group(1).startswith("https://study.example.org/resume/")
        assert codes == [303, 303, 429]  # one join a minute per forwarded client address
    finally:
        proc.stop()
