"""``spanscope traces delete --user-id U`` / ``--session-id S``: privacy deletion.

Thin over ``spanscope.lifecycle.privacy.delete_user_data``: count first (and ask, on a
terminal), delete, print what was removed and the deletion log entry's id. The command's
options live on ``traces delete`` (``cli/curation.py``), which hands over here.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

__all__ = ["delete_person"]


def _summary(report: dict[str, object]) -> str:
    records = report["dataset_records"]
    action = "removed" if report["dataset_records_action"] == "remove" else "kept, unlinked"
    return (f"{report['traces']} trace(s), {report['spans']} span(s), "
            f"{report['assessments']} assessment(s), {report['tags']} tag(s), "
            f"{report['metadata']} metadata entr{'y' if report['metadata'] == 1 else 'ies'}; "
            f"{records} dataset record(s) from them {action}")


def delete_person(*, user_id: str | None, session_id: str | None, experiment_id: str | None,
                  dataset_records: str, dry_run: bool, yes: bool, others: Sequence[str]) -> None:
    """Delete (or, dry, count) every trace of one user or session and say what went."""
    if user_id is not None and session_id is not None:
        raise click.UsageError("give --user-id or --session-id, not both")
    if others:
        raise click.UsageError(f"--user-id/--session-id take every trace of that person; "
                               f"{', '.join(others)} cannot narrow it (use -x for an experiment)")
    from spanscope import tracking
    from spanscope.cli.retention import who
    from spanscope.cli.stores import require_store
    from spanscope.lifecycle.privacy import delete_user_data
    from spanscope.store.retention import open_retention_store

    require_store()
    store = tracking.get_store()
    side = open_retention_store(store)
    what = f"user {user_id!r}" if user_id is not None else f"session {session_id!r}"
    scope = None if experiment_id is None else [experiment_id]
    try:
        def run(dry: bool) -> dict[str, object]:
            return delete_user_data(store, user_id=user_id, session_id=session_id,
                                    experiment_ids=scope, dataset_records=dataset_records,
                                    dry_run=dry, actor=who(), retention=side).to_dict()

        if dry_run or (not yes and sys.stdin.isatty()):
            counted = run(True)
            if dry_run:
                click.echo(f"Would delete, for {what}: {_summary(counted)} "
                           "(dry run: nothing was deleted).")
                return
            if counted["traces"] == 0:
                click.echo(f"No traces of {what}: nothing to delete.")
                return
            click.confirm(f"Delete every trace of {what}: {_summary(counted)}?", abort=True)
        report = run(False)
    finally:
        side.close()
    click.echo(f"Deleted, for {what}: {_summary(report)}.")
    click.echo(f"Logged as deletion {report['deletion_id']} (the {what.split()[0]} id is kept "
               "as its SHA-256 only).", err=True)
