"""DataFrames to JSON-ready records: timestamps as ISO strings, NaN as None, plain numbers."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["frame_records", "plain"]


def plain(value: Any) -> Any:
    """A JSON-serialisable version of one cell."""
    if value is None:
        return None
    if hasattr(value, "isoformat"):  # pandas Timestamp, datetime
        text = value.isoformat()
        return text.replace("+00:00", "Z")
    if hasattr(value, "item") and not isinstance(value, (list, dict, str)):
        value = value.item()  # numpy scalar
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    try:
        import pandas as pd

        if value is pd.NaT or (not isinstance(value, (str, bool)) and pd.isna(value)):
            return None
    except (TypeError, ValueError):
        pass
    return value


def frame_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): plain(v) for k, v in row.items()}
            for row in frame.to_dict(orient="records")]
