"""API keys and roles: every route of the OpenAPI spec, called without a key, with each role.

With auth on, every route but ``/health`` answers 401 without a (valid) key; a viewer gets
403 on every write, an editor 403 on every delete and on key management. The roles come
from the spec (``x-spanscope-role``) and are checked against an independent rule (which
methods and paths write or delete), so a route that forgot its role fails here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from click.testing import CliRunner
from tests.server.conftest import Api, asgi_api

READ_ONLY_POSTS = {"/api/traces/get-batch", "/api/traces/search", "/api/traces/search-ids",
                   "/api/aggregates/{name}", "/api/runs/search", "/api/datasets/search",
                   "/api/analysis/summarize", "/api/analysis/profile",
                   "/api/analysis/error_patterns", "/api/analysis/compare",
                   "/api/monitors/{monitor_id}/test"}  # evaluates, keeps nothing
EDITOR_DELETES = {("DELETE", "/api/traces/{trace_id}/tags")}  # unsetting a label is an edit
UNGUARDED = {"/health", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
RANK = {"viewer": 0, "editor": 1, "admin": 2}


def expected_role(method: str, path: str) -> str:
    """The role a route should need, from what it does (independent of the app's tags)."""
    if path.startswith("/api/keys"):
        return "admin"
    if path.startswith(("/api/retention", "/api/privacy")) and (
            method != "GET" or path.startswith("/api/privacy")):
        return "admin"  # rules decide what is deleted; the deletion log names callers
    if (method, path) in EDITOR_DELETES:
        return "editor"
    if method == "DELETE" or path in ("/api/traces/delete", "/api/traces/delete-ids"):
        return "admin"
    if method == "GET" or path in READ_ONLY_POSTS:
        return "viewer"
    return "editor"


def routes(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            yield method.upper(), path, operation


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", lambda m: "trace_stats" if m.group() == "{name}" else "x1",
                  path)


@pytest.fixture
def keyed(sqlite_uri: str) -> Iterator[tuple[Api, dict[str, str]]]:
    """An app with auth on, and a token per role."""
    with asgi_api(sqlite_uri, auth=True) as api:
        tokens = {role: api.app.state.keys.create_key(role).token for role in RANK}
        yield api, tokens


def call(api: Api, method: str, path: str, token: str | None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return api.request(method, concrete(path), headers=headers, json={})


def test_every_route_declares_the_role_its_action_needs(keyed: tuple[Api, dict[str, str]],
                                                        ) -> None:
    api, _ = keyed
    spec = api.get("/openapi.json").json()
    seen = 0
    for method, path, operation in routes(spec):
        if path in UNGUARDED:
            continue
        declared = operation.get("x-spanscope-role")
        if declared is not None:  # REST routes; receivers mounted with a role have none
            assert declared == expected_role(method, path), (method, path)
        seen += 1
    assert seen >= 45


def test_every_route_but_health_needs_a_valid_key(keyed: tuple[Api, dict[str, str]]) -> None:
    api, tokens = keyed
    spec = api.get("/openapi.json").json()
    assert api.get("/health").status_code == 200
    bad_tokens = [None, "not-a-key", tokens["admin"][:-2] + "zz",
                  "ssk_000000000000_" + "a" * 43]
    checked = 0
    for method, path, _ in routes(spec):
        if path in UNGUARDED:
            continue
        for token in bad_tokens:
            response = call(api, method, path, token)
            assert response.status_code == 401, (method, path, token, response.text)
            body = response.json()
            assert body["error_code"] == "UNAUTHENTICATED"
            assert response.headers["www-authenticate"] == "Bearer"
        checked += 1
    assert checked >= 45
    assert api.get("/openapi.json").status_code == 200  # the spec itself is public


def test_each_role_may_do_exactly_what_its_rank_allows(keyed: tuple[Api, dict[str, str]]
                                                      ) -> None:
    api, tokens = keyed
    spec = api.get("/openapi.json").json()
    for method, path, operation in routes(spec):
        if path in UNGUARDED:
            continue
        needed = operation.get("x-spanscope-role") or expected_role(method, path)
        for role, token in tokens.items():
            response = call(api, method, path, token)
            allowed = RANK[role] >= RANK[needed]
            if allowed:
                assert response.status_code not in (401, 403), (role, method, path,
                                                                response.text)
            else:
                assert response.status_code == 403, (role, method, path, response.text)
                assert response.json()["error_code"] == "PERMISSION_DENIED"
                assert f"needs the {needed} role" in response.json()["message"]


def test_a_refused_write_stores_nothing(keyed: tuple[Api, dict[str, str]],
                                        make_trace: Callable[..., dict[str, Any]]) -> None:
    api, tokens = keyed
    viewer = {"Authorization": f"Bearer {tokens['viewer']}"}
    editor = {"Authorization": f"Bearer {tokens['editor']}"}
    trace = make_trace()
    trace_id = trace["info"]["trace_id"]
    assert api.post("/api/traces/batch", json={"traces": [trace]},
                    headers=viewer).status_code == 403
    assert api.post("/api/experiments", json={"name": "x"}, headers=viewer).status_code == 403
    assert api.store.search_trace_ids() == []
    assert api.store.get_experiment_by_name("x") is None
    assert api.post("/api/traces/batch", json={"traces": [trace]},
                    headers=editor).status_code == 200
    assert api.post("/api/traces/delete-ids", json={"trace_ids": [trace_id]},
                    headers=editor).status_code == 403
    assert api.post(f"/api/traces/{trace_id}/tags", json={"key": "k", "value": "v"},
                    headers=viewer).status_code == 403
    assert api.store.search_trace_ids() == [trace_id]
    assert "k" not in api.store.get_trace(trace_id).info.tags


def test_revoked_keys_stop_working_and_admins_manage_keys_over_http(
        keyed: tuple[Api, dict[str, str]]) -> None:
    api, tokens = keyed
    admin = {"Authorization": f"Bearer {tokens['admin']}"}
    created = api.post("/api/keys", json={"role": "viewer", "name": "dash"}, headers=admin)
    assert created.status_code == 200, created.text
    token, key_id = created.json()["token"], created.json()["key"]["key_id"]
    reader = {"Authorization": f"Bearer {token}"}
    assert api.get("/api/experiments", headers=reader).status_code == 200
    listed = api.get("/api/keys", headers=admin).json()["keys"]
    assert any(k["key_id"] == key_id and k["name"] == "dash" for k in listed)
    assert all("token" not in k and "secret_hash" not in k for k in listed)
    assert api.delete(f"/api/keys/{key_id}", headers=admin).json()["key"]["revoked_time"]
    assert api.get("/api/experiments", headers=reader).status_code == 401
    assert api.post("/api/keys", json={"role": "owner"}, headers=admin).status_code == 400


def test_auth_off_needs_no_key(sqlite_uri: str) -> None:
    with asgi_api(sqlite_uri, auth=False) as api:
        assert api.get("/api/experiments").status_code == 200
        assert api.post("/api/traces/delete-ids", json={"trace_ids": []}).status_code == 200


def test_keys_commands_on_the_tracking_store(sqlite_uri: str) -> None:
    from spanscope.cli.main import cli
    from spanscope.store.keys import open_key_store

    runner = CliRunner()
    created = runner.invoke(cli, ["--tracking-uri", sqlite_uri, "keys", "create",
                                  "--role", "editor", "--name", "ci"])
    assert created.exit_code == 0, created.output
    token = created.stdout.strip()
    assert token.startswith("ssk_") and "not shown again" in created.stderr
    keys = open_key_store(sqlite_uri)
    try:
        key = keys.authenticate(token)
        assert key is not None and key.role == "editor" and key.name == "ci"
        listed = runner.invoke(cli, ["--tracking-uri", sqlite_uri, "keys", "list", "-o",
                                     "json"])
        assert listed.exit_code == 0 and key.key_id in listed.stdout
        assert token not in listed.stdout and token.split("_", 2)[2] not in listed.stdout
        revoked = runner.invoke(cli, ["--tracking-uri", sqlite_uri, "keys", "revoke",
                                      key.key_id])
        assert revoked.exit_code == 0 and "Revoked editor key" in revoked.stdout
        assert keys.authenticate(token) is None
        table = runner.invoke(cli, ["--tracking-uri", sqlite_uri, "keys", "list", "--all"])
        assert key.key_id in table.stdout
        unknown = runner.invoke(cli, ["--tracking-uri", sqlite_uri, "keys", "revoke", "nope"])
        assert unknown.exit_code == 1 and "no API key" in unknown.output
        bad_role = runner.invoke(cli, ["--tracking-uri", sqlite_uri, "keys", "create",
                                       "--role", "owner"])
        assert bad_role.exit_code == 2
    finally:
        keys.close()
