"""Runs (params, tags, metric history) and versioned evaluation datasets.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24

Written by hand; ``tests/store/test_store_migrations.py`` checks that the migrated
database matches ``spanscope.store.sql.schema``. Dataset records are versioned by row
validity ranges (``valid_from`` <= version < ``valid_to``), see docs/datasets.md.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _run_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["run_id"], ["runs.run_id"], ondelete="CASCADE",
                                   name=f"fk_{table}_run_id_runs")


def _dataset_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["dataset_id"], ["datasets.dataset_id"], ondelete="CASCADE",
                                   name=f"fk_{table}_dataset_id_datasets")


def _experiment_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["experiment_id"], ["experiments.experiment_id"],
                                   ondelete="CASCADE",
                                   name=f"fk_{table}_experiment_id_experiments")


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("run_name", sa.String(250)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("start_time", sa.BigInteger()),
        sa.Column("end_time", sa.BigInteger()),
        sa.Column("artifact_uri", sa.Text()),
        sa.Column("user_id", sa.String(256)),
        sa.Column("lifecycle_stage", sa.String(16), nullable=False, server_default="active"),
        sa.PrimaryKeyConstraint("run_id", name="pk_runs"),
        _experiment_fk("runs"),
    )
    op.create_index("ix_runs_experiment_start", "runs", ["experiment_id", "start_time"])
    for table in ("run_params", "run_tags"):
        op.create_table(
            table,
            sa.Column("run_id", sa.String(64), nullable=False),
            sa.Column("key", sa.String(250), nullable=False),
            sa.Column("value", sa.Text(), nullable=False),
            sa.PrimaryKeyConstraint("run_id", "key", name=f"pk_{table}"),
            _run_fk(table),
        )
    op.create_table(
        "run_metrics",
        sa.Column("metric_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("key", sa.String(250), nullable=False),
        sa.Column("value", sa.Float()),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("step", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("metric_id", name="pk_run_metrics"),
        _run_fk("run_metrics"),
    )
    op.create_index("ix_run_metrics_run_key", "run_metrics", ["run_id", "key", "step"])
    op.create_table(
        "run_latest_metrics",
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("key", sa.String(250), nullable=False),
        sa.Column("value", sa.Float()),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("step", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "key", name="pk_run_latest_metrics"),
        _run_fk("run_latest_metrics"),
    )

    op.create_table(
        "datasets",
        sa.Column("dataset_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("tags", sa.Text()),
        sa.Column("current_version", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("record_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("created_time", sa.BigInteger(), nullable=False),
        sa.Column("last_update_time", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(256)),
        sa.PrimaryKeyConstraint("dataset_id", name="pk_datasets"),
        sa.UniqueConstraint("name", name="uq_datasets_name"),
    )
    op.create_table(
        "dataset_experiments",
        sa.Column("dataset_id", sa.String(64), nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("dataset_id", "experiment_id", name="pk_dataset_experiments"),
        _dataset_fk("dataset_experiments"),
        _experiment_fk("dataset_experiments"),
    )
    op.create_index("ix_dataset_experiments_experiment", "dataset_experiments",
                    ["experiment_id"])
    op.create_table(
        "dataset_versions",
        sa.Column("dataset_id", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("record_count", sa.Integer(), nullable=False),
        sa.Column("created_time", sa.BigInteger(), nullable=False),
        sa.Column("inserted", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("updated", sa.Integer(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("dataset_id", "version", name="pk_dataset_versions"),
        _dataset_fk("dataset_versions"),
    )
    op.create_table(
        "dataset_records",
        sa.Column("dataset_id", sa.String(64), nullable=False),
        sa.Column("record_id", sa.String(64), nullable=False),
        sa.Column("valid_from", sa.Integer(), nullable=False),
        sa.Column("valid_to", sa.Integer()),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("input_hash", sa.String(64), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("inputs", sa.Text(), nullable=False),
        sa.Column("expectations", sa.Text()),
        sa.Column("outputs", sa.Text()),
        sa.Column("tags", sa.Text()),
        sa.Column("source", sa.Text()),
        sa.Column("source_trace_id", sa.String(64)),
        sa.Column("created_time", sa.BigInteger(), nullable=False),
        sa.Column("last_update_time", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("dataset_id", "record_id", "valid_from",
                                name="pk_dataset_records"),
        _dataset_fk("dataset_records"),
    )
    op.create_index("ix_dataset_records_current", "dataset_records",
                    ["dataset_id", "valid_to", "input_hash"])
    op.create_index("ix_dataset_records_source_trace", "dataset_records", ["source_trace_id"])


def downgrade() -> None:
    for table in ("dataset_records", "dataset_versions", "dataset_experiments", "datasets",
                  "run_latest_metrics", "run_metrics", "run_tags", "run_params", "runs"):
        op.drop_table(table)
