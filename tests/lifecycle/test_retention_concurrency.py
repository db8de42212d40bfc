"""A retention pass while other connections ingest and search, on SQLite and PostgreSQL:
exactly the traces no rule keeps are deleted, every trace a rule keeps survives (those
logged during the pass too), and no reader or writer fails."""

from __future__ import annotations

import threading
import time

from factories import make_trace
from spanscope.lifecycle.retention import apply_retention
from spanscope.store.retention import open_retention_store
from spanscope.store.sql import SqlStore

DAY = 86_400_000


def test_retention_during_ingest_and_search_deletes_exactly_the_expired(
        store_uri: str) -> None:
    now = int(time.time() * 1000)
    old = now - 60 * DAY
    with SqlStore(store_uri) as setup:
        doomed = [make_trace(2, request_time=old - i) for i in range(1200)]
        kept = ([make_trace(2, request_time=old - i, state="ERROR") for i in range(300)]
                + [make_trace(2, request_time=now - i) for i in range(300)])
        setup.log_traces(doomed + kept)
        rules = open_retention_store(setup)
        rules.add_rule("0", keep_ms=30 * DAY, name="month")
        rules.add_rule("0", filter_string="attributes.status = 'ERROR'", name="errors")
        rules.close()

    stop = threading.Event()
    failures: list[BaseException] = []
    written: list[str] = []
    reads = [0]

    def ingest() -> None:
        with SqlStore(store_uri) as store:
            i = 0
            while not stop.is_set():
                # young traces and old ERROR traces: both kept by a rule
                batch = [make_trace(2, request_time=now + i),
                         make_trace(2, request_time=old - 10_000 - i, state="ERROR")]
                try:
                    store.log_traces(batch)
                except BaseException as exc:  # collected: the test fails on any
                    failures.append(exc)
                    return
                written.extend(t.info.trace_id for t in batch)
                i += 1

    def search() -> None:
        with SqlStore(store_uri) as store:
            while not stop.is_set():
                try:
                    page = store.search_traces(["0"], filter_string="attributes.status = 'OK'",
                                               max_results=50, include_spans=False)
                    if page:
                        store.search_traces(["0"], filter_string=(
                            f"attributes.trace_id = '{page[0].info.trace_id}'"))
                    reads[0] += 1
                except BaseException as exc:
                    failures.append(exc)
                    return

    threads = [threading.Thread(target=ingest), threading.Thread(target=search),
               threading.Thread(target=search)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.3)  # the readers and the writer are running before the pass starts
        with SqlStore(store_uri) as store:
            report = apply_retention(store, now_ms=now)
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)
    assert failures == []
    assert reads[0] > 0 and written
    assert report.deleted == len(doomed)
    with SqlStore(store_uri) as store:
        left = set(store.search_trace_ids(None))
    assert left.isdisjoint(t.info.trace_id for t in doomed)
    assert left == {t.info.trace_id for t in kept} | set(written)
