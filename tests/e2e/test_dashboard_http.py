"""The dashboard's files over HTTP: nginx serves them from www/ with a Content-Security-Policy of the page's
own origin only, the usual security headers, and caching that never serves stale code (no-cache + ETag)."""

import re

import pytest

PAGES = ["/", "/index.html", "/docs", "/js/app.js", "/js/api.js", "/js/docs.js", "/css/app.css", "/css/docs.css",
         "/openapi.yaml", "/openapi.json", "/favicon.svg"]
TYPES = {"/": "text/html", "/index.html": "text/html", "/docs": "text/html", "/js/app.js": "application/javascript",
         "/js/api.js": "application/javascript", "/js/docs.js": "application/javascript", "/css/app.css": "text/css",
         "/css/docs.css": "text/css", "/openapi.yaml": "application/yaml", "/openapi.json": "application/json",
         "/favicon.svg": "image/svg+xml"}


def csp_directives(header: str) -> dict[str, list[str]]:
    directives = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            directives[words[0]] = words[1:]
    return directives


@pytest.mark.parametrize("path", PAGES)
def test_static_files_carry_the_security_headers(anonymous, path):
    response = anonymous.get(path)
    assert response.status_code == 200, path
    assert response.headers["Content-Type"].split(";")[0] == TYPES[path]
    csp = csp_directives(response.headers["Content-Security-Policy"])
    assert csp["default-src"] == ["'self'"]
    assert csp["script-src"] == ["'self'"] and csp["style-src"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'none'"] and csp["object-src"] == ["'none'"]
    # Nothing from another origin, and nothing inline or evaluated, anywhere in the policy.
    for sources in csp.values():
        for source in sources:
            assert source in ("'self'", "'none'"), (path, source)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "no-referrer"


@pytest.mark.parametrize("path", PAGES)
def test_static_files_are_revalidated_so_a_deployment_is_never_stale(anonymous, path):
    response = anonymous.get(path)
    assert response.headers["Cache-Control"] == "no-cache"
    etag = response.headers["ETag"]
    assert response.headers["Last-Modified"]
    again = anonymous.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""


def test_the_api_gets_no_cache_header_from_nginx_but_the_security_headers(anonymous):
    response = anonymous.get("/api/health")
    assert response.status_code == 200
    assert "no-cache" not in response.headers.get("Cache-Control", "")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "Content-Security-Policy" in response.headers


def test_the_pages_hold_no_inline_script_or_style_and_load_nothing_from_elsewhere(anonymous):
    for path in ("/", "/docs"):
        html = anonymous.get(path).text
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), path
        assert "<style" not in html and " style=" not in html and " on" + "click=" not in html, path
        for url in re.findall(r'(?:src|href)="([^"]+)"', html):
            assert url.startswith("/") or url.startswith("#"), (path, url)
    for path in ("/js/app.js", "/js/api.js", "/js/dom.js", "/js/docs.js", "/js/chart.js"):
        script = anonymous.get(path).text
        # Data reaches the page only as text: no innerHTML, outerHTML, insertAdjacentHTML or document.write.
        assert not re.search(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(", script), path
        # (The SVG namespace is a name, not an address that is fetched.)
        assert not re.search(r"https?://", script.replace("http://www.w3.org/2000/svg", "")), path
