"""JSON for the frozen dataclasses that pass between the stages.

Tuples become lists and nested dataclasses become objects; loading checks the
``schema_version`` and rebuilds the same types, so ``load(dump(x)) == x``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from typing import Any, TypeVar

from matcher.errors import SettingsError

T = TypeVar("T")


def to_json(obj: Any) -> str:
    """Serialise a dataclass to indented JSON (no NaN or infinity allowed)."""
    return json.dumps(dataclasses.asdict(obj), indent=2, allow_nan=False) + "\n"


def from_json(cls: type[T], text: str, what: str = "JSON") -> T:
    """Rebuild a dataclass of type ``cls`` from :func:`to_json` output.

    Raises
    ------
    SettingsError
        Malformed JSON, a missing or unknown field, or another schema version.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SettingsError(f"{what} is not valid JSON ({exc.msg}, line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise SettingsError(f"{what} must hold a JSON object")
    expected = getattr(cls, "SCHEMA_VERSION", None)
    if expected is not None and data.get("schema_version") != expected:
        raise SettingsError(
            f"{what} has schema_version {data.get('schema_version')!r}; this version reads {expected}"
        )
    return _build(cls, data, what)


def _build(tp: Any, value: Any, what: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise SettingsError(f"{what}: expected an object for {tp.__name__}")
        hints = typing.get_type_hints(tp)
        names = {f.name for f in dataclasses.fields(tp) if f.init}
        unknown = set(value) - names
        if unknown:
            raise SettingsError(f"{what}: unknown field(s) {', '.join(sorted(unknown))} in {tp.__name__}")
        kwargs = {k: _build(hints[k], v, f"{what}: {k}") for k, v in value.items()}
        try:
            return tp(**kwargs)
        except (TypeError, ValueError) as exc:
            raise SettingsError(f"{what}: {exc}") from None
    if origin is tuple:
        if not isinstance(value, list):
            raise SettingsError(f"{what}: expected a list")
        (item,) = [a for a in typing.get_args(tp) if a is not Ellipsis]
        return tuple(_build(item, v, what) for v in value)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in typing.get_args(tp):
            return None
        (inner,) = [a for a in typing.get_args(tp) if a is not type(None)]
        return _build(inner, value, what)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise SettingsError(f"{what}: expected a finite number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise SettingsError(f"{what}: expected an integer, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise SettingsError(f"{what}: expected true or false, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise SettingsError(f"{what}: expected a string, got {value!r}")
        return value
    raise SettingsError(f"{what}: unsupported type {tp!r}")
