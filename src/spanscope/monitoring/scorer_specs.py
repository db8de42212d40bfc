"""Scorers as JSON specs, so a registration can be stored and rebuilt by any worker.

A spec is one of:

- ``{"kind": "builtin", "builtin": "Safety", "options": {"model": ..., "guidelines": ...}}``
  for the built-in judges (``BUILTINS``);
- ``{"kind": "judge", "instructions": "... {{ outputs }} ...", "model": ...,
  "feedback_value_type": "yes/no" | "bool" | "int" | "float" | "str"}`` for ``make_judge``;
- ``{"kind": "code", "import_path": "package.module:function"}`` for an ``@scorer`` (or a
  plain function, or any ``Scorer`` instance) that the worker imports.

``spec_of`` reads a spec off a scorer object; ``build_scorer`` makes the scorer back,
named as its registration so its assessments carry that name; ``scorer_from_text``
reads the CLI's words (``Safety``, ``correctness``, ``pkg.mod:fn``).
"""

from __future__ import annotations

import copy
import importlib
from typing import Any

from spanscope.evaluation.scorers.base import FunctionScorer, Scorer
from spanscope.evaluation.scorers.builtin import (
    Correctness,
    ExpectationsGuidelines,
    Guidelines,
    InstructionsJudge,
    Judge,
    RelevanceToQuery,
    RetrievalGroundedness,
    RetrievalRelevance,
    RetrievalSufficiency,
    Safety,
    make_judge,
)
from spanscope.exceptions import InvalidInputError

__all__ = ["BUILTINS", "build_scorer", "builtin_named", "load_import_path", "spec_of"]

BUILTINS: dict[str, type[Judge]] = {cls.__name__: cls for cls in (
    Safety, Correctness, RelevanceToQuery, RetrievalGroundedness, RetrievalRelevance,
    RetrievalSufficiency, Guidelines, ExpectationsGuidelines)}
_VALUE_TYPES: dict[str, Any] = {"yes/no": None, "bool": bool, "int": int, "float": float,
                                "str": str}
_KIND_NAMES = {"pass_fail": "yes/no", "bool": "bool", "numeric": "float", "text": "str"}


def builtin_named(text: str) -> type[Judge] | None:
    """The built-in judge class called ``text`` (``Safety``, ``safety``,
    ``relevance_to_query``), or None."""
    key = text.strip().replace("_", "").lower()
    return next((cls for name, cls in BUILTINS.items() if name.lower() == key), None)


def spec_of(scorer: Scorer) -> dict[str, Any]:
    """The spec that rebuilds ``scorer``; ``InvalidInputError`` when none can (a scorer
    defined in ``__main__`` or a notebook cell, which a worker cannot import)."""
    if isinstance(scorer, InstructionsJudge):
        return {"kind": "judge", "instructions": scorer.instructions, "model": scorer.model,
                "feedback_value_type": _KIND_NAMES[scorer.result_kind],
                "description": scorer.description}
    builtin = BUILTINS.get(type(scorer).__name__)
    if builtin is type(scorer):
        options: dict[str, Any] = {"model": scorer.model}
        if isinstance(scorer, Guidelines):
            options["guidelines"] = scorer.guidelines
        return {"kind": "builtin", "builtin": builtin.__name__, "options": options}
    if isinstance(scorer, FunctionScorer):
        return {"kind": "code", "import_path": _import_path(scorer.func, scorer)}
    if isinstance(scorer, Scorer):
        return {"kind": "code", "import_path": _import_path(scorer, scorer)}
    raise InvalidInputError(f"{scorer!r} is not a scorer (decorate a function with @scorer)")


def _import_path(target: Any, scorer: Scorer) -> str:
    module = getattr(target, "__module__", None) or type(target).__module__
    qualname = getattr(target, "__qualname__", None)
    if qualname is None or not isinstance(qualname, str) or isinstance(target, Scorer):
        qualname = _module_attribute(module, scorer)
    if module in (None, "__main__") or "<locals>" in qualname:
        raise InvalidInputError(
            f"scorer {scorer.name!r} is defined in {module or 'an unknown module'} "
            f"({qualname}); an online scorer is imported by the worker, so define it at "
            f"the top level of an importable module and register it from there, or pass "
            f"its import path 'package.module:function'")
    return f"{module}:{qualname}"


def _module_attribute(module: str | None, scorer: Scorer) -> str:
    """The name under which ``scorer`` is a top-level attribute of ``module``."""
    found = importlib.import_module(module) if module and module != "__main__" else None
    for name, value in vars(found or object()).items():
        if value is scorer:
            return name
    return "<locals>"


def load_import_path(path: str) -> Scorer:
    """The scorer at ``package.module:attribute`` (a plain function becomes ``@scorer``)."""
    module_name, _, attribute = str(path).partition(":")
    if not module_name or not attribute:
        raise InvalidInputError(f"a code scorer's import path is 'package.module:function', "
                                f"got {path!r}")
    try:
        target: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            target = getattr(target, part)
    except ImportError as exc:
        raise InvalidInputError(f"cannot import scorer {path!r}: {exc}") from None
    except AttributeError:
        raise InvalidInputError(f"module {module_name!r} has no {attribute!r} (from the "
                                f"scorer import path {path!r})") from None
    if isinstance(target, Scorer):
        return target
    if callable(target):
        return FunctionScorer(target)
    raise InvalidInputError(f"{path!r} is neither a scorer nor a function")


def build_scorer(spec: dict[str, Any], name: str | None = None) -> Scorer:
    """The scorer ``spec`` describes, named ``name`` (default: its own name)."""
    kind = spec.get("kind") if isinstance(spec, dict) else None
    if kind == "builtin":
        cls = BUILTINS.get(str(spec.get("builtin")))
        if cls is None:
            raise InvalidInputError(f"unknown built-in scorer {spec.get('builtin')!r}; use "
                                    f"one of {', '.join(BUILTINS)}")
        options = {k: v for k, v in (spec.get("options") or {}).items() if v is not None}
        if cls is Guidelines:
            return Guidelines(name=name or "guidelines", **options)
        built: Scorer = cls(name, **options)  # type: ignore[arg-type]
        return built
    if kind == "judge":
        value_type = spec.get("feedback_value_type") or "yes/no"
        if value_type not in _VALUE_TYPES:
            raise InvalidInputError(f"feedback_value_type must be one of "
                                    f"{', '.join(_VALUE_TYPES)}, got {value_type!r}")
        return make_judge(name or str(spec.get("name") or "judge"),
                          str(spec.get("instructions") or ""), spec.get("model"),
                          description=spec.get("description"),
                          feedback_value_type=_VALUE_TYPES[value_type])
    if kind == "code":
        loaded = load_import_path(str(spec.get("import_path") or ""))
        if name is None or name == loaded.name:
            return loaded
        renamed = copy.copy(loaded)
        renamed.name = name
        return renamed
    raise InvalidInputError(f"a scorer spec's kind is 'builtin', 'judge' or 'code', "
                            f"got {kind!r}")


def default_name(spec: dict[str, Any]) -> str:
    """The name a registration takes when none is given: the scorer's own."""
    return build_scorer(spec).name
