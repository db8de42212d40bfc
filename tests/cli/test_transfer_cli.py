"""``spanscope export`` and ``spanscope import`` through Click, on real SQLite files."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from factories import make_trace
from spanscope.cli.main import cli
from spanscope.store.sql import SqlStore


def seed(uri: str) -> list[str]:
    with SqlStore(uri) as store:
        bot = store.create_experiment("bot")
        traces = [make_trace(3, experiment_id=bot), make_trace(2, experiment_id=bot,
                                                               state="ERROR"), make_trace(1)]
        store.log_traces(traces)
    return [t.info.trace_id for t in traces]


def test_export_then_import_twice(runner: CliRunner, tmp_path: Path) -> None:
    source, target = f"sqlite:///{tmp_path}/a.db", f"sqlite:///{tmp_path}/b.db"
    ids = seed(source)
    result = runner.invoke(cli, ["--tracking-uri", source, "export", "-o", "t.parquet"])
    assert result.exit_code == 0, result.output
    assert "Exported 3 traces from 2 experiments to t.parquet (parquet)" in result.output
    assert "Exporting" in result.stderr  # the progress bar
    result = runner.invoke(cli, ["--tracking-uri", target, "import", "t.parquet"])
    assert result.exit_code == 0, result.output
    assert "Imported 3 traces (3 new, 0 already stored)" in result.stdout
    assert "created experiment 'bot'" in result.stdout
    result = runner.invoke(cli, ["--tracking-uri", target, "import", "t.parquet",
                                 "--no-progress"])
    assert "Imported 3 traces (0 new, 3 already stored)" in result.stdout
    assert result.stderr == ""
    with SqlStore(target) as store:
        assert sorted(store.search_trace_ids()) == sorted(ids)


def test_export_filtered_to_stdout(runner: CliRunner, tmp_path: Path) -> None:
    source = f"sqlite:///{tmp_path}/a.db"
    ids = seed(source)
    result = runner.invoke(cli, ["--tracking-uri", source, "export", "-o", "-", "-F",
                                 "mlflow-json", "-f", "attributes.state = 'ERROR'",
                                 "--no-progress"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert [t["info"]["trace_id"] for t in document["traces"]] == [ids[1]]
    assert document["traces"][0]["experiment_name"] == "bot"
    assert "Exported 1 trace from 1 experiment to <stdout>" in result.stderr
    lines = runner.invoke(cli, ["--tracking-uri", source, "export", "-o", "-", "-x", "0",
                                "--no-progress"]).stdout.splitlines()
    assert [json.loads(line)["info"]["trace_id"] for line in lines] == [ids[2]]


def test_import_into_a_named_experiment(runner: CliRunner, tmp_path: Path) -> None:
    source, target = f"sqlite:///{tmp_path}/a.db", f"sqlite:///{tmp_path}/b.db"
    seed(source)
    runner.invoke(cli, ["--tracking-uri", source, "export", "-o", "t.jsonl", "--no-progress"])
    result = runner.invoke(cli, ["--tracking-uri", target, "import", "t.jsonl", "-e",
                                 "copies", "--batch-size", "1"])
    assert result.exit_code == 0, result.output
    with SqlStore(target) as store:
        copies = store.get_experiment_by_name("copies")
        assert copies is not None and len(store.search_trace_ids([copies.experiment_id])) == 3
        assert store.get_experiment_by_name("bot") is None


def test_errors_are_one_line_with_exit_codes(runner: CliRunner, tmp_path: Path) -> None:
    source = f"sqlite:///{tmp_path}/a.db"
    missing = runner.invoke(cli, ["--tracking-uri", f"sqlite:///{tmp_path}/none.db", "export",
                                  "-o", "x.jsonl"])
    assert missing.exit_code == 1 and "No Spanscope store" in missing.output
    assert not (tmp_path / "none.db").exists()
    seed(source)
    bad_filter = runner.invoke(cli, ["--tracking-uri", source, "export", "-o", "x.jsonl",
                                     "-f", "attributes.nope = 1"])
    assert bad_filter.exit_code == 4
    no_format = runner.invoke(cli, ["--tracking-uri", source, "export", "-o", "x.txt",
                                    "--no-progress"])
    assert no_format.exit_code == 3 and "cannot tell the format" in no_format.output
    parquet_out = runner.invoke(cli, ["--tracking-uri", source, "export", "-o", "-", "-F",
                                      "parquet"])
    assert parquet_out.exit_code == 2
    no_file = runner.invoke(cli, ["--tracking-uri", source, "import", "nope.jsonl"])
    assert no_file.exit_code == 2
    Path("bad.jsonl").write_text('{"info": {}}\n')
    bad = runner.invoke(cli, ["--tracking-uri", source, "import", "bad.jsonl",
                              "--no-progress"])
    assert bad.exit_code == 3
    assert bad.output.strip().splitlines()[-1].startswith("Error: bad.jsonl: line 1:")
