"""The overview's panels, without a browser: their figures are the analysis API's over the
same traces, and each figure's link lists exactly the traces it counts."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from tests.factories import make_trace

import spanscope.analysis as analysis
from spanscope.query import parse_filter
from spanscope.server.ui import overview
from spanscope.store.sql import SqlStore

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
HOUR = 3_600_000


@pytest.fixture
def store(tmp_path):
    """Ten traces over five hours, app versions 1 and 2, three failed, one untagged."""
    traces = []
    for i in range(10):
        tags = {} if i == 9 else {"app_version": "1" if i < 5 else "2"}
        traces.append(make_trace(3 + i % 4, request_time=T0 + (i // 2) * HOUR + i * 1000,
                                 state="ERROR" if i in (2, 6, 7) else "OK", tags=tags))
    with SqlStore(f"sqlite:///{tmp_path}/o.db") as opened:
        opened.log_traces(traces)
        yield opened


def _listed(store: SqlStore, href: str) -> set[str]:
    """The trace ids the list page at ``href`` holds (its filter and quick filters)."""
    from spanscope.server.ui.views import combine_filters

    query = {k: v[0] for k, v in parse_qs(urlsplit(href).query).items()}
    text = query.get("filter")
    if text:
        parse_filter(text)  # every link's filter is valid as typed
    combined = combine_filters(text, state=query.get("state"), since=query.get("since"),
                               span_type=query.get("span_type"), now_ms=T0 + 10 * HOUR)
    return set(store.search_trace_ids([query["experiment_id"]], filter_string=combined))


def test_the_headline_is_summarize_and_its_links_list_its_traces(store: SqlStore) -> None:
    scope = overview.Scope.now("0", "all")
    top = overview.headline(store, scope)
    summary = analysis.summarize(experiment_ids=["0"], store=store).overall
    figures = {f.label: f for f in top.figures}
    assert figures["Traces"].value == f"{summary['traces']:,}" == "10"
    assert figures["Error rate"].value == "30.0%"
    assert figures["Latency p95"].value == f"{summary['latency_p95_ms']:,.0f} ms"
    assert top.traces == 10 and top.bucket == "hour"  # five hours of traces
    assert len(_listed(store, figures["Traces"].href)) == 10
    assert len(_listed(store, figures["Failed"].href)) == 3
    slower = _listed(store, figures["Latency p95"].href)
    assert slower and len(slower) < 10


def test_the_time_panel_counts_each_hour_and_links_its_traces(store: SqlStore) -> None:
    scope = overview.Scope.now("0", "all")
    panel = overview.time_panel(store, scope, "hour")
    series = analysis.summarize(experiment_ids=["0"], bucket="hour", store=store).table
    assert [b["traces"] for b in panel["buckets"]] == [int(n) for n in series["traces"]]
    assert [b["errors"] for b in panel["buckets"]] == [int(n) for n in series["errors"]]
    for bucket in panel["buckets"]:
        assert len(_listed(store, bucket["href"])) == bucket["traces"]
        assert len(_listed(store, bucket["errors_href"])) == bucket["errors"]
    assert {"error_rate", "latency", "tokens"} <= set(panel["charts"])
    assert "<svg" in panel["charts"]["latency"]


def test_groups_are_summarize_by_the_tag_with_links(store: SqlStore) -> None:
    scope = overview.Scope.now("0", "all", "tags.app_version")
    groups = {g["value"]: g for g in overview.groups_panel(store, scope)}
    table = analysis.summarize(experiment_ids=["0"], group_by="tags.app_version",
                               store=store).table
    expected = {("(none)" if v is None else v): n
                for v, n in zip(table["tags.app_version"], table["traces"], strict=True)}
    assert {k: g["traces"] for k, g in groups.items()} == expected == {"1": 5, "2": 4,
                                                                        "(none)": 1}
    assert groups["2"]["errors"] == 2
    for group in groups.values():
        assert len(_listed(store, group["href"])) == group["traces"]
        assert len(_listed(store, group["errors_href"])) == group["errors"]
    assert overview.groups_panel(store, overview.Scope.now("0", "all")) == []


def test_the_time_panel_reads_only_the_buckets_it_draws(tmp_path) -> None:
    """Over 130 hours the panel draws the newest 120 and reads only their traces: the same
    counts and failures as trace_stats' newest 120 hours, over all time and over a
    window of a week."""
    hours = overview.MAX_BARS + 10
    traces = [make_trace(2 + i % 3, request_time=T0 + i * HOUR + 7_000 * (i % 5),
                         state="ERROR" if i % 7 == 0 else "OK") for i in range(hours)]
    with SqlStore(f"sqlite:///{tmp_path}/h.db") as store:
        store.log_traces(traces)
        rows = store.trace_stats(overview.Scope.now("0", "all").selection, bucket_ms=HOUR)
        for scope in (overview.Scope.now("0", "all"),
                      overview.Scope("0", "7d", "", T0 - HOUR, T0 + hours * HOUR)):
            panel = overview.time_panel(store, scope, "hour")
            drawn = [b for b in panel["buckets"] if b["traces"]]
            assert len(drawn) == overview.MAX_BARS
            assert [(b["start_ms"], b["traces"], b["errors"]) for b in drawn] == [
                (r.bucket_ms, r.traces, r.errors) for r in rows[-overview.MAX_BARS:]]
            assert "<svg" in panel["charts"]["latency"]


def test_each_group_and_hour_costs_what_summarize_says(tmp_path) -> None:
    """The panels read their model usage beside their trace figures (at once): each
    group's cost is summarize's, the groups' costs add up, and the hours are charted."""
    from tests.analysis.many_traces import make

    traces = [make(request_time=T0 + (i % 3) * HOUR + i, latency_ms=20 + i,
                   tags={"env": "prod" if i % 4 else "dev"}, input_tokens=1000 * (i + 1),
                   model="gpt-4o-mini" if i % 2 else "gpt-4o")[0] for i in range(12)]
    with SqlStore(f"sqlite:///{tmp_path}/c.db") as store:
        store.log_traces(traces)
        scope = overview.Scope.now("0", "all", "tags.env")
        groups = {g["value"]: g["cost_usd"] for g in overview.groups_panel(store, scope)}
        table = analysis.summarize(experiment_ids=["0"], group_by="tags.env",
                                   store=store).table
        assert groups == dict(zip(table["tags.env"], table["cost_usd"], strict=True))
        whole = analysis.summarize(experiment_ids=["0"], store=store).overall["cost_usd"]
        assert all(groups.values()) and abs(sum(groups.values()) - whole) < 1e-9
        panel = overview.time_panel(store, scope, "hour")
        assert len(panel["buckets"]) == 3 and "cost" in panel["charts"]


def test_span_types_and_error_patterns_link_to_their_traces(store: SqlStore) -> None:
    scope = overview.Scope.now("0", "all")
    types = {t["span_type"]: t for t in overview.span_types_panel(store, scope)}
    profile = analysis.profile_traces(experiment_ids=["0"], store=store).by_type
    assert {t: types[t]["count"] for t in profile["span_type"]} == dict(
        zip(profile["span_type"], profile["count"], strict=True))
    assert types["AGENT"]["errors"] == 3
    assert _listed(store, types["AGENT"]["errors_href"]) == _listed(
        store, scope.link(state="ERROR"))
    patterns = overview.errors_panel(store, scope)
    expected = analysis.error_patterns(experiment_ids=["0"], store=store).patterns
    assert [(p["pattern"], p["count"]) for p in patterns] == [
        (p["pattern"], p["count"]) for p in expected]
    top = patterns[0]
    assert top["pattern"] == "upstream timed out" and top["count"] == 3
    assert top["exceptions"] == ["ConnectionError"]
    failed = _listed(store, scope.link(state="ERROR"))
    for pattern in patterns:  # the traces with a failed span of the pattern's names
        listed = _listed(store, pattern["href"])
        assert len(listed) >= pattern["count"] and listed <= failed


def test_a_quick_range_fixes_its_window_for_every_panel() -> None:
    scope = overview.Scope.now("0", "24h", " tags.app_version ", now_ms=T0)
    assert (scope.start_ms, scope.end_ms, scope.group_by) == (T0 - 24 * HOUR, T0,
                                                              "tags.app_version")
    query = parse_qs(scope.query(bucket="hour"))
    assert query["start_ms"] == [str(T0 - 24 * HOUR)] and query["end_ms"] == [str(T0)]
    assert parse_qs(urlsplit(scope.link(state="ERROR")).query) == {
        "experiment_id": ["0"], "since": ["24h"], "state": ["ERROR"]}
    everything = overview.Scope.now("0", "forever")
    assert (everything.since, everything.start_ms, everything.end_ms) == ("all", None, None)
    assert "since" not in parse_qs(urlsplit(everything.link()).query)


def test_groups_by_user_link_to_the_users_traces(tmp_path) -> None:
    from spanscope.exceptions import InvalidInputError

    with SqlStore(f"sqlite:///{tmp_path}/u.db") as store:
        store.log_traces([make_trace(2, user_id=u) for u in ("ann", "ann", "bob")]
                         + [make_trace(2)])
        groups = {g["value"]: g for g in overview.groups_panel(
            store, overview.Scope.now("0", "all", "user"))}
        assert {k: g["traces"] for k, g in groups.items()} == {"ann": 2, "bob": 1,
                                                               "(none)": 1}
        for group in groups.values():
            assert len(_listed(store, group["href"])) == group["traces"]
        with pytest.raises(InvalidInputError, match="span types have their panel"):
            overview.groups_panel(store, overview.Scope.now("0", "all", "span_type"))


@pytest.mark.parametrize("group_by", ["", "tags.app_version"])
def test_the_page_and_every_panel_render_over_http(tmp_path, group_by: str) -> None:
    """Each panel's template renders (a template that fails to compile answers 500 to
    every panel, which the figure tests above, calling the functions, cannot see)."""
    import re
    from html import unescape

    from tests.server.conftest import asgi_api

    uri = f"sqlite:///{tmp_path}/render.db"
    with SqlStore(uri) as opened:
        opened.log_traces([make_trace(3, state="ERROR" if i == 1 else "OK",
                                      tags={"app_version": str(i % 2)}) for i in range(4)])
    with asgi_api(uri, monitor=False) as api:
        page = api.get(f"/overview?experiment_id=0&since=all&group_by={group_by}")
        assert page.status_code == 200, page.text
        panels = [unescape(p) for p in re.findall(r'hx-get="([^"]+)"', page.text)]
        assert len(panels) == (4 if group_by else 3)
        for path in panels:
            answer = api.get(path)
            assert answer.status_code == 200, (path, answer.text[:500])
            name = path.split("?")[0].rsplit("/", 1)[-1]
            assert f'id="panel-{name}"' in answer.text, (path, answer.text[:500])
