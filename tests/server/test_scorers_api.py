"""``/api/scorers`` in-process over ASGI, on SQLite and PostgreSQL: register, list, read,
change and delete online scorers; bad input as 400/404 JSON; roles."""

from __future__ import annotations

import httpx
from tests.server.conftest import Api, asgi_api


def test_register_list_get_update_delete(store_uri: str) -> None:
    with asgi_api(store_uri) as api:
        created = api.post("/api/scorers", json={
            "experiment_id": 0, "scorer": "Safety", "sample_rate": 0.1,
            "filter_string": "tags.env = 'prod'", "delay_s": 30,
            "max_judge_calls_per_hour": 500})
        assert created.status_code == 200, created.text
        scorer = created.json()["scorer"]
        assert (scorer["name"], scorer["version"], scorer["spec"]["builtin"]) == (
            "safety", 1, "Safety")
        assert scorer["traces"] == {"claimed": 0, "scored": 0, "skipped": 0}
        judge = api.post("/api/scorers", json={
            "scorer": {"kind": "judge", "instructions": "Is {{ outputs }} short?"},
            "name": "short"})
        assert judge.status_code == 200, judge.text
        listed = api.get("/api/scorers", params={"experiment_id": "0"}).json()["scorers"]
        assert [s["name"] for s in listed] == ["safety", "short"]
        assert api.get("/api/scorers/0/safety").json()["scorer"]["delay_s"] == 30
        changed = api.patch("/api/scorers/0/safety", json={
            "sample_rate": 0.5, "filter_string": "", "max_judge_calls_per_hour": 0,
            "active": False}).json()["scorer"]
        assert (changed["sample_rate"], changed["filter_string"],
                changed["max_judge_calls_per_hour"], changed["active"],
                changed["version"]) == (0.5, None, None, False, 1)
        respec = api.patch("/api/scorers/0/short", json={"scorer": {
            "kind": "judge", "instructions": "Is {{ outputs }} very short?"}})
        assert respec.json()["scorer"]["version"] == 2
        assert api.delete("/api/scorers/0/short").status_code == 200
        assert [s["name"] for s in api.get("/api/scorers").json()["scorers"]] == ["safety"]


def test_bad_input_is_400_and_unknown_is_404(sqlite_uri: str) -> None:
    with asgi_api(sqlite_uri) as api:
        for body, status, text in (
                ({"scorer": "Nonsense"}, 400, "is not a scorer"),
                ({"scorer": "Safety", "sample_rate": 2}, 400, "sample_rate"),
                ({"scorer": "Safety", "filter_string": "tags.x ="}, 400, ""),
                ({"scorer": "no_such_module:fn"}, 400, "cannot import"),
                ({"scorer": "Safety", "experiment_id": "77"}, 404, "77"),
                ({"scorer": "Safety", "surprise": 1}, 400, "")):
            response = api.post("/api/scorers", json=body)
            assert response.status_code == status, (body, response.text)
            assert text in response.json()["message"]
        assert api.post("/api/scorers", json={"scorer": "Safety"}).status_code == 200
        again = api.post("/api/scorers", json={"scorer": "Safety"})
        assert again.status_code == 400 and "already has" in again.json()["message"]
        assert api.get("/api/scorers/0/missing").status_code == 404
        assert api.patch("/api/scorers/0/missing", json={"active": False}).status_code == 404
        assert api.delete("/api/scorers/0/missing").status_code == 404


def test_viewers_list_editors_register_admins_delete(sqlite_uri: str) -> None:
    with asgi_api(sqlite_uri, auth=True) as api:
        tokens = {role: api.app.state.keys.create_key(role).token
                  for role in ("viewer", "editor", "admin")}

        def as_(role: str) -> dict[str, str]:
            return {"Authorization": f"Bearer {tokens[role]}"}

        assert _post(api, as_("viewer")).status_code == 403
        assert _post(api, as_("editor")).status_code == 200
        assert api.get("/api/scorers", headers=as_("viewer")).status_code == 200
        assert api.delete("/api/scorers/0/safety", headers=as_("editor")).status_code == 403
        assert api.delete("/api/scorers/0/safety", headers=as_("admin")).status_code == 200


def _post(api: Api, headers: dict[str, str]) -> httpx.Response:
    return api.post("/api/scorers", json={"scorer": "Safety"}, headers=headers)
