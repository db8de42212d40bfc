"""``spanscope.genai.datasets``: versioned evaluation datasets (MLflow's names).

::

    from spanscope.genai.datasets import create_dataset

    ds = create_dataset("support-regressions")
    ds.merge_records([{"inputs": {"question": "Reset my password?"},
                       "expectations": {"expected_facts": ["link by email"]}}])
    ds.to_df()

See ``docs/datasets.md``.
"""

from spanscope.entities.dataset import DatasetRecord, DatasetVersion
from spanscope.evaluation.datasets import (
    EvaluationDataset,
    create_dataset,
    delete_dataset,
    delete_dataset_tag,
    export_dataset,
    get_dataset,
    import_dataset,
    search_datasets,
    set_dataset_tags,
)
from spanscope.evaluation.sampling import build_dataset_from_traces

__all__ = [
    "DatasetRecord",
    "DatasetVersion",
    "EvaluationDataset",
    "build_dataset_from_traces",
    "create_dataset",
    "delete_dataset",
    "delete_dataset_tag",
    "export_dataset",
    "get_dataset",
    "import_dataset",
    "search_datasets",
    "set_dataset_tags",
]
