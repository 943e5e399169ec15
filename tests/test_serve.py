"""`csd serve`: the JSON API through an ASGI test client, `csd search` through a running
server, and the page in a real headless Chromium (Debian's chromium driven by Playwright)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest
from conftest import invoke

from csdclip_cli.serve.app import create_app, remove_discovery, write_discovery
from csdclip_cli.serve.service import Service

QUERY = "a red car and a tree at night, no person"


def demo_gallery(root: Path, n: int = 160) -> Path:
    """n demo-world scenes, indexed with demo:tiny (its text tower exported)."""
    from csdclip_cli.demo import run, world

    (root / "imgs").mkdir(parents=True)
    for i in range(n):
        (root / "imgs" / f"d{i:04d}.png").write_bytes(world.png_bytes(world.sample_scene(i, seed=7)))
    run.build_demo_index(root, None)
    return root


@pytest.fixture(scope="module")
def gallery(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("serve")
    old = os.environ.get("CSD_INDEXES")
    os.environ["CSD_INDEXES"] = str(root / "indexes")
    try:
        demo_gallery(root)
    finally:
        if old is None:
            os.environ.pop("CSD_INDEXES", None)
        else:
            os.environ["CSD_INDEXES"] = old
    return root


@pytest.fixture
def client(gallery: Path):
    from starlette.testclient import TestClient

    return TestClient(create_app(Service(gallery / "indexes")))


def test_search_api_returns_plan_clause_scores_and_thumbnails(client) -> None:
    r = client.post("/api/search", json={"query": QUERY, "k": 10, "compare": True})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["plan"]["not"] == ["person"] and len(body["results"]) == 10 and len(body["plain"]) == 10
    first = body["results"][0]
    assert set(first["clauses"]) >= {"NOT person"} and set(first["passed"]) == set(first["clauses"])
    thumb = client.get(first["thumb"])
    assert (
        thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg" and thumb.content[:2] == b"\xff\xd8"
    )
    orig = client.get(first["file"])
    assert orig.status_code == 200 and orig.headers["content-type"] == "image/png"
    # an edited plan is used as it is: without the NOT clause the ranking changes
    edited = dict(body["plan"], **{"not": []})
    r2 = client.post("/api/search", json={"plan": edited, "k": 10}).json()
    assert r2["plan"]["not"] == [] and [x["key"] for x in r2["results"]] != [x["key"] for x in body["results"]]
    # fusion weights from the page's sliders
    r3 = client.post("/api/search", json={"query": QUERY, "k": 5, "weights": {"not_weight": 0.0}}).json()
    assert r3["results"] and r3["timing_ms"]["total"] > 0


def test_rewrite_and_index_routes(client) -> None:
    assert client.post("/api/rewrite", json={"query": QUERY}).json()["plan"]["not"] == ["person"]
    ixs = client.get("/api/indexes").json()
    assert [i["name"] for i in ixs] == ["demo-tiny"] and ixs[0]["count"] == 160
    assert client.get("/api/indexes/demo-tiny").json()["model"] == "demo:tiny"
    assert "<title>csd search</title>" in client.get("/").text
    for path in ("/api/indexes/nope", "/api/thumb/nope/0", "/api/file/nope/0"):
        r = client.get(path)
        assert r.status_code == 404 and "no index named 'nope'" in r.json()["error"], (path, r.text)
    for body in ({"query": None}, {"query": ["a", "b"]}, {"query": "a dog", "rewriter": 5}):
        r = client.post("/api/rewrite", json=body)  # it rewrote the text "None" and "['a', 'b']"
        assert r.status_code == 400 and r.json()["error"] == "query and rewriter must be strings", body
    deep = "[" * 5000 + "]" * 5000  # a RecursionError in json.loads: it was a 500
    r = client.post("/api/search", content=deep, headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"] == "the request body is nested too deeply", r.text


def test_a_bug_is_a_logged_500_not_a_404(client, monkeypatch, caplog) -> None:
    """An IndexError inside a handler was answered 404 'list index out of range', as if
    something were missing, and nothing was logged."""
    from csdclip_cli.serve.service import Service

    def broken(self, query, rewriter="rules"):
        return [][0]

    monkeypatch.setattr(Service, "rewrite", broken)
    r = client.post("/api/rewrite", json={"query": "a dog"})
    assert r.status_code == 500 and "internal error (IndexError)" in r.json()["error"]
    assert "internal error on /api/rewrite" in caplog.text


@pytest.mark.parametrize(
    "request_body, status, message",
    [
        ({"query": ",,,"}, 400, "empty query"),
        ({"query": "a dog", "k": 100000}, 400, "k must be between"),
        ({"query": "a dog", "method": "magic"}, 400, "method must be"),
        ({"query": "a dog", "index": "nope"}, 404, "no index named"),  # what is named does not exist
        ({"query": "a dog", "min_match": "false"}, 400, "min_match must be true or false"),  # was true
        ({"query": "a dog", "compare": 1}, 400, "compare must be true or false"),
        ({"query": "x" * 3000}, 400, "at most 2000"),
        ({"plan": {"raw": "a", "and": [], "not": [], "or": [], "optimized": " "}}, 400, "no clause left"),
    ],
)
def test_bad_requests_are_one_line_errors(client, request_body: dict, status: int, message: str) -> None:
    r = client.post("/api/search", json=request_body)
    assert r.status_code == status and message in r.json()["error"]


def test_limits_and_files_only_by_row(client) -> None:
    big = {"query": "a dog", "pad": "x" * 70_000}
    assert client.post("/api/search", content=json.dumps(big)).status_code == 413
    assert client.post("/api/search", content=b"not json").status_code == 400
    r = client.post("/api/search", content=b"{}", headers={"content-length": "abc"})
    assert r.status_code == 400 and "Content-Length" in r.json()["error"]
    assert client.get("/api/thumb/demo-tiny/99999").status_code == 404
    assert client.get("/api/file/demo-tiny/..%2F..%2Fetc%2Fpasswd").status_code == 404  # rows only, never paths
    assert client.get("/api/file/demo-tiny/-1").status_code == 404
    r = client.get("/api/thumb/demo-tiny/-1?key=x")  # it said the index "was updated since this search"
    assert r.status_code == 404 and r.json()["error"] == "index 'demo-tiny' has no image at row -1"
    r = client.get("/api/thumb/demo-tiny/")  # no row: no such route, as JSON like every other error
    assert r.status_code == 404 and r.json()["error"] == "no such route: GET /api/thumb/demo-tiny/"
    r = client.get("/api/search")
    assert r.status_code == 405 and r.json()["error"] == "method not allowed: GET /api/search"
    assert r.headers["allow"] == "POST"
    r = client.get("/api/thumb/demo-tiny/abc")  # a malformed row is the request's fault, not a missing row
    assert r.status_code == 400 and r.json()["error"] == "row must be a whole number, not 'abc'"
    for row in ["+3", "1_0", "３"]:  # what int() would take
        r = client.get(f"/api/file/demo-tiny/{row}")
        assert r.status_code == 400 and len(r.json()["error"]) < 80, (row[:10], r.status_code)
    for row in ["9" * 19, "9" * 5000]:  # a whole number past the end: not found, and not echoed whole
        r = client.get(f"/api/file/demo-tiny/{row}")
        assert r.status_code == 404 and "no image at row 999" in r.json()["error"], r.text
        assert len(r.json()["error"]) < 80


def test_a_damaged_index_is_a_server_error_not_a_bad_request(gallery: Path, tmp_path: Path) -> None:
    """A damaged index (a cut vectors.npy, a corrupt items.sqlite) answered 400, "your request is
    wrong"; the request was fine: a 500 with the same one-line message, and bad requests stay 400."""
    from starlette.testclient import TestClient

    root = tmp_path / "indexes"
    shutil.copytree(gallery / "indexes" / "demo-tiny", root / "good")
    for name in ("cut", "corrupt"):
        shutil.copytree(gallery / "indexes" / "demo-tiny", root / name)
    for gen in (root / "cut").glob("gen-*"):
        vectors = gen / "vectors.npy"
        vectors.write_bytes(vectors.read_bytes()[: vectors.stat().st_size // 2])
    for gen in (root / "corrupt").glob("gen-*"):
        (gen / "items.sqlite").write_bytes(b"not a database" * 100)
    client = TestClient(create_app(Service(root, default_index="good")))
    for name in ("cut", "corrupt"):
        for r in (
            client.post("/api/search", json={"query": "a red car", "index": name}),
            client.get(f"/api/thumb/{name}/0"),
        ):
            assert r.status_code == 500, (name, r.status_code, r.text)
            error = r.json()["error"]
            assert error.startswith(f"index {name!r} is damaged") and "\n" not in error, error
    assert client.post("/api/search", json={"query": "a red car", "index": "good"}).status_code == 200
    assert client.post("/api/search", json={"query": "a red car", "index": "cut", "k": 0}).status_code == 400


def test_a_trailing_slash_is_a_json_404_not_an_empty_redirect(client) -> None:
    """GET /api/indexes/ and POST /api/search/ answered 307 with an empty body."""
    for method, path in (("GET", "/api/indexes/"), ("POST", "/api/search/"), ("GET", "/api/indexes/demo-tiny/")):
        r = client.request(method, path, json={"query": "a dog"} if method == "POST" else None, follow_redirects=False)
        assert r.status_code == 404 and r.json()["error"] == f"no such route: {method} {path}", (path, r.status_code)


def test_unknown_fields_are_refused_by_name(client) -> None:
    """{"query": ..., "top": 5} searched as if top were not there, and {"plan": {"AND": [...]}}
    said "the plan has no clause left"."""
    r = client.post("/api/search", json={"query": "a red car", "top": 5})
    assert r.status_code == 400 and r.json()["error"] == (
        "unknown field 'top' in the search request; known: query, index, k, method, rewriter, plan, weights, "
        "compare, min_match"
    )
    r = client.post("/api/search", json={"plan": {"AND": ["a red car"]}})
    assert r.status_code == 400 and r.json()["error"] == (
        "field 'AND' is not a plan field (they are lower-case: raw, intent, entities, optimized, and, not, or)"
    )
    r = client.post("/api/search", json={"plan": {"and": ["a red car"], "nope": 1}})
    assert r.status_code == 400 and r.json()["error"].startswith("field 'nope' is not a plan field (they are: raw,")
    r = client.post("/api/rewrite", json={"query": "a red car", "rewritter": "llm"})
    assert r.status_code == 400 and "unknown field 'rewritter'" in r.json()["error"]
    # what a search answers as its plan is taken back as it is (the page sends it edited)
    plan = client.post("/api/search", json={"query": QUERY, "k": 3}).json()["plan"]
    assert client.post("/api/search", json={"plan": plan, "k": 3}).status_code == 200


def test_a_row_past_the_end_has_no_image_even_with_a_key(client) -> None:
    """With ?key= a row that never existed was said to have been "updated since this search"."""
    for kind in ("thumb", "file"):
        r = client.get(f"/api/{kind}/demo-tiny/999999?key=x")
        assert r.status_code == 404 and r.json()["error"] == "index 'demo-tiny' has no image at row 999999", r.text
    r = client.get("/api/thumb/demo-tiny/0?key=x")  # a row that holds another image: it was updated
    assert r.status_code == 404 and "was updated since this search: row 0 no longer holds 'x'" in r.json()["error"]


def test_thumbnails_of_an_index_whose_name_needs_quoting(gallery: Path, tmp_path: Path) -> None:
    from starlette.testclient import TestClient

    name = "night shots #1?"  # '#' and '?' would end the path of an unquoted URL
    copy = shutil.copytree(gallery / "indexes" / "demo-tiny", tmp_path / "indexes" / name)
    manifest = json.loads((copy / "manifest.json").read_text())
    (copy / "manifest.json").write_text(json.dumps(manifest | {"name": name}))  # as if built under that name
    client = TestClient(create_app(Service(tmp_path / "indexes")))
    r = client.post("/api/search", json={"query": QUERY, "k": 3, "index": name})
    assert r.status_code == 200, r.text
    first = r.json()["results"][0]
    assert first["thumb"].startswith("/api/thumb/night%20shots%20%231%3F/")
    for url in (first["thumb"], first["file"]):
        got = client.get(url)
        assert got.status_code == 200 and got.content[:2] in (b"\xff\xd8", b"\x89P"), url


def test_token_is_checked_on_every_api_request(gallery: Path) -> None:
    from starlette.testclient import TestClient

    c = TestClient(create_app(Service(gallery / "indexes"), token="s3cret"))
    assert c.get("/api/indexes").status_code == 401
    assert c.get("/api/indexes", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert c.get("/api/indexes?token=s3cret").status_code == 200
    assert c.post("/api/search", json={"query": "a dog"}, headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_the_auth_scheme_is_case_insensitive(gallery: Path) -> None:
    """`Authorization: bearer TOKEN` answered 401; a scheme's name is case-insensitive (RFC 7235)."""
    from starlette.testclient import TestClient

    c = TestClient(create_app(Service(gallery / "indexes"), token="s3cret"))
    for header in ("bearer s3cret", "BEARER s3cret", "Bearer  s3cret"):
        assert c.get("/api/indexes", headers={"Authorization": header}).status_code == 200, header
    for header in ("bearer wrong", "Basic s3cret", "bearers3cret", "s3cret"):
        assert c.get("/api/indexes", headers={"Authorization": header}).status_code == 401, header


def test_off_loopback_without_token_prints_a_generated_one(runner, gallery: Path, monkeypatch) -> None:
    import uvicorn

    seen = {}
    monkeypatch.setattr(uvicorn.Server, "run", lambda self: seen.update(host=self.config.host))
    r = invoke(
        runner, "serve", "--host", "0.0.0.0", "--port", str(_free_port()), "--index-dir", str(gallery / "indexes")
    )
    assert r.exit_code == 0, r.output
    assert "every request needs the token" in r.stderr and seen["host"] == "0.0.0.0"
    assert not (gallery / "indexes" / ".serve.json").exists()  # removed when the server stops


def test_the_printed_page_address_is_a_url_and_open_warns_without_a_browser(runner, gallery: Path, monkeypatch) -> None:
    """`--host ::1` printed http://::1:PORT/ (no URL), `--token 'a b'` printed ?token=a b, and
    --open without a browser said nothing."""
    import webbrowser

    import uvicorn

    async def no_loop(self) -> None:  # started and listening, then stopped at once
        return None

    monkeypatch.setattr(uvicorn.Server, "main_loop", no_loop)
    opened: list[str] = []
    monkeypatch.setattr(webbrowser, "open", lambda url, *a, **kw: opened.append(url) or False)
    root = str(gallery / "indexes")
    port = _free_port()
    r = invoke(runner, "serve", "--port", str(port), "--token", "a b+c", "--open", "--index-dir", root)
    page = f"http://127.0.0.1:{port}/?token=a%20b%2Bc"
    assert r.exit_code == 0 and f"csd serve: {page}  (Ctrl-C to stop)" in r.stderr, r.stderr
    assert opened == [page] and f"warning: no web browser found to open it; open {page} yourself" in r.stderr
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
            port = s.getsockname()[1]
    except OSError:
        pytest.skip("no IPv6 loopback here")
    r = invoke(runner, "serve", "--host", "::1", "--port", str(port), "--index-dir", root)
    assert r.exit_code == 0 and f"csd serve: http://[::1]:{port}/  (Ctrl-C to stop)" in r.stderr, r.stderr


def test_a_damaged_current_index_does_not_stop_the_server(runner, gallery: Path, tmp_path: Path, monkeypatch) -> None:
    """`csd serve` refused to start when the current index was damaged, though the others were fine;
    an index asked for with --index still refuses."""
    import uvicorn

    root = tmp_path / "indexes"
    shutil.copytree(gallery / "indexes" / "demo-tiny", root / "good")
    bad = shutil.copytree(gallery / "indexes" / "demo-tiny", root / "bad")
    for gen in bad.glob("gen-*"):
        (gen / "items.sqlite").unlink()
    monkeypatch.setenv("CSD_INDEXES", str(root))
    assert invoke(runner, "index", "use", "bad").exit_code == 0
    monkeypatch.setattr(uvicorn.Server, "run", lambda self: None)
    served = {}
    monkeypatch.setattr(uvicorn.Server, "run", lambda self: served.update(app=self.config.app))
    r = invoke(runner, "serve", "--port", str(_free_port()))
    assert r.exit_code == 0 and "index 'bad' is damaged" in r.stderr and "the other indexes are served" in r.stderr
    assert "index good: ready (the default)" in r.stderr  # a request without an index went to the damaged one
    named = invoke(runner, "serve", "--port", str(_free_port()), "--index", "bad")
    assert named.exit_code != 0 and "index 'bad' is damaged" in named.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RunningServer:
    """A real uvicorn server in a thread, announced in the index folder like `csd serve`."""

    def __init__(self, index_root: Path, token: str | None = None, default_index: str | None = None):
        import uvicorn

        self.root, self.port = index_root, _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        app = create_app(Service(index_root, default_index), token)
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.token = token

    def __enter__(self) -> RunningServer:
        self.thread.start()
        for _ in range(200):
            if self.server.started:
                break
            time.sleep(0.05)
        write_discovery(self.root, self.url, self.token)
        return self

    def __exit__(self, *exc: object) -> None:
        remove_discovery(self.root)
        self.server.should_exit = True
        self.thread.join(10)


def test_csd_search_uses_a_running_server(runner, gallery: Path, monkeypatch) -> None:
    monkeypatch.setenv("CSD_INDEXES", str(gallery / "indexes"))
    local = invoke(runner, "search", QUERY, "-k", "5", "--json", "--no-server")
    with RunningServer(gallery / "indexes", token="t0k"):
        remote = invoke(runner, "search", QUERY, "-k", "5", "--json")
        table = invoke(runner, "search", QUERY, "-k", "3", "--explain")
        bad = invoke(runner, "search", "red", "--index", "nope")
    assert remote.exit_code == 0 and local.exit_code == 0
    strip = lambda out: [(d["key"], round(d["score"], 4)) for d in map(json.loads, out.splitlines())]
    assert strip(remote.stdout) == strip(local.stdout)  # the same answer, warm
    assert "via csd serve" in table.stdout and "NOT person" in table.stdout
    assert bad.exit_code == 1 and "no index named 'nope'" in bad.stderr
    # the server gone (a stale discovery file): searched here
    write_discovery(gallery / "indexes", "http://127.0.0.1:9", None)
    try:
        again = invoke(runner, "search", QUERY, "-k", "5", "--json")
    finally:
        (gallery / "indexes" / ".serve.json").unlink()
    assert again.exit_code == 0 and strip(again.stdout) == strip(local.stdout)


def test_search_through_a_server_takes_the_current_index_not_the_servers(
    runner, gallery: Path, tmp_path: Path, monkeypatch
) -> None:
    """With `csd serve -i other` running, `csd search` without -i searched `other` while the
    same command with --no-server searched the current index."""
    root = tmp_path / "indexes"
    shutil.copytree(gallery / "indexes" / "demo-tiny", root / "demo-tiny")
    copy = shutil.copytree(gallery / "indexes" / "demo-tiny", root / "other")
    manifest = json.loads((copy / "manifest.json").read_text())
    (copy / "manifest.json").write_text(json.dumps(manifest | {"name": "other"}))
    monkeypatch.setenv("CSD_INDEXES", str(root))
    assert invoke(runner, "index", "use", "demo-tiny").exit_code == 0
    with RunningServer(root, default_index="other"):
        r = invoke(runner, "search", QUERY, "-k", "2")
    assert r.exit_code == 0 and "demo-tiny · demo:tiny" in r.stdout and "via csd serve" in r.stdout, r.stdout


def _chromium() -> str:
    path = os.environ.get("CSD_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.fail(
            "the browser test needs Chromium: apt-get install chromium (make test installs it), or set CSD_CHROMIUM"
        )
    return path


@pytest.mark.slow
def test_page_in_a_real_browser(gallery: Path, tmp_path: Path) -> None:
    """Type a query, see thumbnails, remove the NOT chip, see the ranking change; no console errors."""
    from playwright.sync_api import sync_playwright

    shots = Path(os.environ.get("CSD_TEST_ARTIFACTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    with RunningServer(gallery / "indexes") as srv, sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=_chromium(),
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(srv.url + "/")
        page.fill("#query", QUERY)
        page.press("#query", "Enter")
        page.wait_for_selector("#composite .card img")
        page.wait_for_function(
            "[...document.querySelectorAll('#composite .card img')].every(i => i.complete && i.naturalWidth > 0)"
        )
        before = page.eval_on_selector_all("#composite .card", "cs => cs.map(c => c.dataset.key)")
        assert len(before) == 10 and page.locator("#plain .card").count() == 10
        assert page.locator(".chip[data-kind=NOT] .text").inner_text() == "person"
        page.screenshot(path=str(shots / "serve-page.png"), full_page=True)
        page.click(".chip[data-kind=NOT] .remove")
        page.wait_for_function("document.querySelectorAll('.chip[data-kind=NOT]').length === 0")
        page.wait_for_function(
            "keys => JSON.stringify([...document.querySelectorAll('#composite .card')].map(c => c.dataset.key)) !== keys",
            arg=json.dumps(before),
        )
        after = page.eval_on_selector_all("#composite .card", "cs => cs.map(c => c.dataset.key)")
        page.screenshot(path=str(shots / "serve-page-no-not.png"), full_page=True)
        # a clause moved to NOT leaves the optimized phrase too (it kept ranking by the tree)
        page.click(".chip[data-kind=AND]:has-text('tree') .move")
        page.wait_for_function("document.querySelectorAll('.chip[data-kind=NOT]').length === 1")
        moved = page.evaluate("() => plan")
        assert moved["not"] == ["a tree at night"] and moved["optimized"] == "a red car", moved
        page.click(".chip[data-kind=AND] .remove")  # nothing wanted: a neutral phrase, not the query
        page.wait_for_function("document.querySelectorAll('.chip[data-kind=AND]').length === 0")
        assert page.evaluate("() => plan.optimized") == "a photo"
        # the OR chip's ⇄ said "move to NOT" and moved its alternatives into AND ("either" became "both")
        page.fill("#query", "a red car and either a tree or a house")
        page.press("#query", "Enter")
        page.wait_for_selector(".chip[data-kind=OR]")
        assert page.get_attribute(".chip[data-kind=OR] .move", "title") == "move to NOT"
        page.click(".chip[data-kind=OR] .move")
        page.wait_for_function("document.querySelectorAll('.chip[data-kind=OR]').length === 0")
        moved = page.evaluate("() => plan")
        assert moved["not"] == ["a tree", "a house"] and moved["and"] == ["a red car"], moved
        browser.close()
    assert after != before
    assert not errors, errors


@pytest.mark.parametrize(
    "raw_body",
    [
        b'{"query": "a car", "k": 1e400}',
        b'{"query": "a car", "k": "5"}',
        b'{"query": "a car", "k": 2.5}',
        b'{"query": "a car", "k": true}',
        b'{"query": "\xff"}',
        b'{"query": "a red car and a tree, no person", "weights": {"phrase_weight": NaN}}',
        b'{"query": "a red car and a tree, no person", "weights": {"and_temperature": 0}}',
        b'{"query": "a red car", "weights": {"candidates": "union"}}',
        b'{"query": "a car", "index": 5}',
        b'{"query": "a car", "index": ["a"]}',
        b'{"query": 5}',
        b'{"plan": {"and": [5]}}',
        b'{"plan": {"or": ["ab"]}}',
        b'{"plan": []}',
    ],
)
def test_malformed_requests_are_400_not_500(client, raw_body: bytes) -> None:
    r = client.post("/api/search", content=raw_body, headers={"Content-Type": "application/json"})
    assert r.status_code == 400, (raw_body, r.status_code, r.text)
    assert r.json()["error"]


def test_edited_plans_are_normalised(client) -> None:
    r = client.post("/api/search", json={"plan": {"and": ["a red car"], "or": [[], ["a tree"]], "not": [" "]}, "k": 3})
    assert r.status_code == 200, r.text
    plan = r.json()["plan"]
    assert plan["and"] == ["a red car", "a tree"] and plan["or"] == [] and plan["not"] == []  # no raw needed


def test_sigterm_removes_the_discovery_file(gallery: Path) -> None:
    import signal
    import subprocess
    import sys

    env = {**os.environ, "CSD_INDEXES": str(gallery / "indexes")}
    port = _free_port()
    p = subprocess.Popen(
        [sys.executable, "-m", "csdclip_cli", "serve", "--port", str(port)], env=env, stderr=subprocess.PIPE
    )
    disc = gallery / "indexes" / ".serve.json"
    try:
        for _ in range(400):
            if disc.exists():
                break
            time.sleep(0.05)
        assert disc.exists() and json.loads(disc.read_text())["url"].endswith(str(port))
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(20)
    assert not disc.exists()


def test_a_second_server_on_one_index_folder_hands_the_first_back(tmp_path: Path) -> None:
    """Two `csd serve` on one index folder: stopping the second deleted .serve.json, and
    `csd search` lost the first, which was still running."""
    import subprocess

    from csdclip_cli.serve.client import find_server

    first = subprocess.Popen(["sleep", "60"])  # stands for the first server's process
    try:
        (tmp_path / ".serve.json").write_text(
            json.dumps({"url": "http://127.0.0.1:1", "pid": first.pid, "token": None})
        )
        other = write_discovery(tmp_path, "http://127.0.0.1:2", None)
        assert other is not None and other["pid"] == first.pid
        assert find_server(tmp_path)["url"] == "http://127.0.0.1:2"
        remove_discovery(tmp_path)
        assert find_server(tmp_path)["url"] == "http://127.0.0.1:1"  # the first is found again
        # three servers: the middle one stops first, then the last: the first gets the file back
        write_discovery(tmp_path, "http://127.0.0.1:5", None)
        entry = json.loads((tmp_path / ".serve.json").read_text())
        middle = subprocess.Popen(["true"])
        middle.wait()  # the middle server, stopped
        entry["previous"] = {
            "url": "http://127.0.0.1:6",
            "pid": middle.pid,
            "token": None,
            "previous": entry["previous"],
        }
        (tmp_path / ".serve.json").write_text(json.dumps(entry))
        remove_discovery(tmp_path)
        assert find_server(tmp_path)["url"] == "http://127.0.0.1:1"
        # a second server killed without cleaning up: the first, still running, is found
        dead = subprocess.Popen(["true"])
        dead.wait()
        entry = {"url": "http://127.0.0.1:3", "pid": dead.pid, "token": None, "previous": other}
        (tmp_path / ".serve.json").write_text(json.dumps(entry))
        assert find_server(tmp_path)["url"] == "http://127.0.0.1:1"
    finally:
        first.kill()
        first.wait()
    assert find_server(tmp_path) is None
    # no live server before: the file goes when this one stops
    (tmp_path / ".serve.json").unlink()
    assert write_discovery(tmp_path, "http://127.0.0.1:4", None) is None
    remove_discovery(tmp_path)
    assert not (tmp_path / ".serve.json").exists()


def test_a_removed_and_rebuilt_index_is_not_served_from_the_old_one(runner, tmp_path: Path, monkeypatch) -> None:
    """After `index rm photos` and a build of another folder as photos, the warm server still
    answered from the first folder: the rebuilt index starts at generation 1 again."""
    from conftest import make_colour_folder
    from starlette.testclient import TestClient

    root = tmp_path / "indexes"
    monkeypatch.setenv("CSD_INDEXES", str(root))
    a, b = make_colour_folder(tmp_path / "A", n=6), make_colour_folder(tmp_path / "B", n=6, seed=1)
    assert invoke(runner, "index", "build", str(a), "--model", "fake:colour", "--name", "photos").exit_code == 0
    client = TestClient(create_app(Service(root)))
    first = client.post("/api/search", json={"query": "red", "k": 2, "index": "photos"}).json()["results"]
    assert all("/A/" in r["path"] for r in first)
    thumb = client.get(first[0]["thumb"]).content
    assert invoke(runner, "index", "rm", "photos").exit_code == 0
    assert invoke(runner, "index", "build", str(b), "--model", "fake:colour", "--name", "photos").exit_code == 0
    again = client.post("/api/search", json={"query": "red", "k": 2, "index": "photos"}).json()["results"]
    assert again and all("/B/" in r["path"] for r in again), again
    assert client.get(again[0]["thumb"]).status_code == 200 and thumb  # served from the new index


def test_a_search_that_reads_other_settings_than_the_server_searches_here(
    runner, gallery: Path, tmp_path: Path, monkeypatch
) -> None:
    """With `csd serve` running, `csd search` in a folder whose csd.toml sets [composite]
    weights was answered by the server with the server's weights, without a word."""
    monkeypatch.setenv("CSD_INDEXES", str(gallery / "indexes"))
    (tmp_path / "csd.toml").write_text("[composite]\nnot_weight = 5\n")
    (tmp_path / "other").mkdir()
    monkeypatch.chdir(tmp_path / "other")  # (the server is in this process: it reads the folder it is in)
    with RunningServer(gallery / "indexes"):  # started where no settings file is
        monkeypatch.chdir(tmp_path)
        mine = invoke(runner, "search", QUERY, "-k", "3")
        monkeypatch.chdir(tmp_path / "other")
        same = invoke(runner, "search", QUERY, "-k", "3")
    assert mine.exit_code == 0 and "via csd serve" not in mine.stdout, mine.output
    assert same.exit_code == 0 and "via csd serve" in same.stdout, same.output


def test_a_rewriter_the_server_does_not_take_searches_here(runner, gallery: Path, tmp_path: Path, monkeypatch) -> None:
    """With a server up, `csd search --rewriter plans.jsonl` (or llm-base) failed with the
    server's error instead of searching here, as --no-server does."""
    from csdclip_cli.rewrite.plan import Plan

    monkeypatch.setenv("CSD_INDEXES", str(gallery / "indexes"))
    plans = tmp_path / "p.jsonl"
    plans.write_text(Plan(raw=QUERY, and_=["a red car"], not_=["person"]).to_json() + "\n")
    with RunningServer(gallery / "indexes"):
        r = invoke(runner, "search", QUERY, "-k", "3", "--rewriter", str(plans))
        bad = invoke(runner, "search", QUERY, "--method", "plain", "--explain")
    assert r.exit_code == 0 and "via csd serve" not in r.stdout, r.output
    assert bad.exit_code == 2 and "--explain is about composite search's clauses" in bad.stderr


def test_result_links_never_open_another_image_after_an_update(tmp_path: Path, monkeypatch) -> None:
    """Links named a row only, and an update renumbers rows (any change of shard 0 moves every
    row of shard 1; a compaction all of them): 10 of 20 links opened other images, and a
    thumbnail's hour of browser cache kept the wrong picture."""
    from starlette.testclient import TestClient

    from csdclip_cli.demo import world
    from csdclip_cli.encoders import load_encoder
    from csdclip_cli.index.shards import build_sharded
    from csdclip_cli.index.store import IndexStore
    from csdclip_cli.sources import FolderSource

    monkeypatch.setenv("CSD_INDEXES", str(tmp_path / "indexes"))
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    for i in range(60):
        (imgs / f"d{i:04d}.png").write_bytes(world.png_bytes(world.sample_scene(i, seed=3)))
    enc = load_encoder("demo:tiny", device="cpu")
    build_sharded(FolderSource(imgs), enc, "sh", 2, IndexStore())
    client = TestClient(create_app(Service(tmp_path / "indexes")))
    results = client.post("/api/search", json={"query": "a red car", "index": "sh", "k": 20, "method": "plain"})
    results = results.json()["results"]
    for i in range(60, 90):  # added only
        (imgs / f"d{i:04d}.png").write_bytes(world.png_bytes(world.sample_scene(i, seed=3)))
    build_sharded(FolderSource(imgs), enc, "sh", 2, IndexStore())
    moved = 0
    for r in results:
        got = client.get(r["file"])
        if got.status_code == 200:
            assert got.content == (imgs / r["key"]).read_bytes(), r["key"]  # never another image
        else:
            moved += 1
            assert got.status_code == 404 and "was updated since this search" in got.json()["error"]
            assert client.get(r["thumb"]).status_code == 404
    assert moved > 0  # the update did move rows: the check above was not idle
    fresh = client.post("/api/search", json={"query": "a red car", "index": "sh", "k": 20, "method": "plain"})
    for r in fresh.json()["results"]:
        assert client.get(r["file"]).content == (imgs / r["key"]).read_bytes()


def test_several_indexes_and_none_in_use_are_all_served(runner, colour_folder: Path, capsys) -> None:
    """`csd serve` with two indexes and none in use refused to start ("pick one with --index"),
    though its page has an index picker: every index is served, the first that opens by default."""
    from starlette.testclient import TestClient

    from csdclip_cli.cli.serve_cmd import _in_use
    from csdclip_cli.index import IndexStore

    for name in ("b", "a"):
        assert (
            invoke(runner, "index", "build", str(colour_folder), "--model", "fake:colour", "--name", name).exit_code
            == 0
        )
    store = IndexStore()
    (store.root / ".current").unlink(missing_ok=True)
    bad = shutil.copytree(store.root / "a", store.root / "0-bad")  # first in order, and damaged
    for gen in bad.glob("gen-*"):
        (gen / "items.sqlite").unlink()
    service = Service(store.root)
    assert _in_use(service) == [] and service.default_index == "a"
    # the damaged one passed over for the default is named (it was skipped without a word)
    assert "index '0-bad' is damaged" in capsys.readouterr().err
    client = TestClient(create_app(service))
    r = client.post("/api/search", json={"query": "red", "k": 1})
    assert r.status_code == 200 and r.json()["index"] == "a", r.text
    # none is in use: the fallback default is not marked "current" (it was), but "default"
    marks = {i["name"]: (i["current"], i["default"]) for i in client.get("/api/indexes").json()}
    assert marks == {"0-bad": (False, False), "a": (False, True), "b": (False, False)}
    store.use("b")  # one in use: that one, as before
    assert _in_use(Service(store.root)) == ["b"]
    # --index a while b is in use: a is the default, b still the current one
    marks = {i["name"]: (i["current"], i["default"]) for i in client.get("/api/indexes").json()}
    assert marks == {"0-bad": (False, False), "a": (False, True), "b": (True, False)}


@pytest.mark.parametrize("body", [b"{}", b"[]", b'{"method": "csd", "results": [{"rank": 1}]}', b"null"])
def test_something_else_answering_at_the_servers_address_is_searched_around(body: bytes) -> None:
    """A 200 of {} or [] from whatever listened at the server's address was a KeyError / AttributeError
    traceback in `csd search`: such an answer is no answer, and the search runs here."""
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from csdclip_cli.serve.client import remote_search

    class Stub(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Stub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        assert remote_search({"url": url}, {"query": "a red car"}) is None
    finally:
        server.shutdown()


@pytest.mark.parametrize("token", [" x ", "x ", "", "  "])
def test_a_token_with_spaces_at_its_ends_is_refused(runner, tmp_path: Path, token: str) -> None:
    """`--token ' x '`: a header's value is stripped, so every `Authorization: Bearer  x ` was a 401
    and `csd search` searched locally every time without a word."""
    r = invoke(runner, "serve", "--port", "1", "--token", token, "--index-dir", str(tmp_path))
    assert r.exit_code == 2 and "is empty or starts or ends with a space" in r.stderr, r.output


def test_the_api_refuses_what_csd_search_refuses_and_takes_a_plan_of_exclusions(client) -> None:
    """{"rewriter": "none", "method": "deo"} ran a deo search and {"method": "plain", "min_match":
    true} ignored min_match (csd search refuses both); a plan of NOT clauses only was "the plan
    has no clause left", though the query "no grass" searches."""
    r = client.post("/api/search", json={"query": "a red car", "rewriter": "none", "method": "deo"})
    assert r.status_code == 400 and "cannot go with method deo" in r.json()["error"]
    r = client.post("/api/search", json={"query": "a red car", "method": "plain", "min_match": True})
    assert r.status_code == 400 and "min_match is about composite search's clauses" in r.json()["error"]
    r = client.post("/api/search", json={"plan": {"and": [], "not": ["grass"]}, "k": 3})
    assert r.status_code == 200, r.text
    assert r.json()["plan"]["not"] == ["grass"] and r.json()["plan"]["optimized"] == "a photo"
    assert (
        client.post("/api/search", json={"query": "a red car", "rewriter": "none", "method": "plain"}).status_code
        == 200
    )
