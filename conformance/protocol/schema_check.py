"""Fast checks of protocol messages, compiled from the same JSON Schema files the protocol publishes.

Contract: :func:`compile_schema` turns a schema that uses only the keywords in ``_KEYWORDS`` (the
subset ``conformance/protocol/schemas/*.json`` is written in) into a function returning ``None`` for a
valid instance or ``(where, message)`` for the first violation, with the verdicts of the
``jsonschema`` library (``tests/protocol/test_schema_check.py`` holds the two to agreement). It exists
because ``jsonschema`` costs ~0.5 s to import and tens of microseconds per message on the hot
path of every ``cmd:`` store; a keyword outside the subset is refused when compiling, never ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: ``(where, message)`` of the first violation, or None when the instance is valid.
Violation = tuple[str, str] | None
Check = Callable[[Any, str], Violation]

#: Keywords that only annotate: they never make an instance invalid.
_ANNOTATIONS = frozenset({"$schema", "$id", "title", "description", "contentEncoding", "$defs"})
_KEYWORDS = frozenset({"type", "properties", "required", "additionalProperties", "const", "enum", "items",
                       "minLength", "minItems", "minimum", "oneOf", "uniqueItems", "$ref"}) | _ANNOTATIONS
_DEFS_PREFIX = "defs.json#/$defs/"


def _is_integer(value: Any) -> bool:
    return (type(value) is int) or (type(value) is float and value.is_integer())


_TYPES: dict[str, Callable[[Any], bool]] = {
    "object": lambda value: type(value) is dict,
    "array": lambda value: type(value) is list,
    "string": lambda value: type(value) is str,
    "integer": _is_integer,
    "number": lambda value: type(value) in (int, float),
    "boolean": lambda value: type(value) is bool,
    "null": lambda value: value is None,
}


def json_equal(left: Any, right: Any) -> bool:
    """JSON equality: ``true`` is not ``1``, ``1`` is ``1.0``, objects and arrays compare deeply."""
    if type(left) is bool or type(right) is bool:
        return type(left) is type(right) and left == right
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(json_equal(left[key], right[key]) for key in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(json_equal(a, b) for a, b in zip(left, right))
    if isinstance(left, (int, float)) and isinstance(right, (int, float)):
        return left == right
    return type(left) is type(right) and left == right


def compile_schema(schema: dict, defs: dict[str, dict]) -> Check:
    """A check for ``schema``; ``$ref`` may only name ``defs.json#/$defs/<name>`` (``defs`` by name)."""
    unknown = set(schema) - _KEYWORDS
    if unknown:
        raise ValueError(f"schema keyword(s) {sorted(unknown)} are not supported by conformance.protocol.schema_check; "
                         "add them there (and to its agreement test) before using them in a schema")
    checks = [check for check in (_keyword_check(keyword, schema, defs) for keyword in schema) if check]

    def check_all(value: Any, where: str) -> Violation:
        for check in checks:
            violation = check(value, where)
            if violation is not None:
                return violation
        return None

    return checks[0] if len(checks) == 1 else check_all


def _keyword_check(keyword: str, schema: dict, defs: dict[str, dict]) -> Check | None:
    argument = schema[keyword]
    if keyword in _ANNOTATIONS or keyword == "required":  # required is checked with properties
        return _required_check(argument) if keyword == "required" else None
    if keyword == "$ref":
        if not argument.startswith(_DEFS_PREFIX):
            raise ValueError(f"$ref {argument!r}: only {_DEFS_PREFIX}<name> is supported")
        return compile_schema(defs[argument[len(_DEFS_PREFIX):]], defs)
    if keyword == "type":
        return _type_check(argument)
    if keyword == "properties":
        return _properties_check(argument, defs)
    if keyword == "additionalProperties":
        return _additional_check(argument, set(schema.get("properties", ())), defs)
    if keyword == "const":
        return lambda value, where: None if json_equal(value, argument) else (where, f"{value!r} was expected to be {argument!r}")
    if keyword == "enum":
        return lambda value, where: (None if any(json_equal(value, option) for option in argument)
                                     else (where, f"{value!r} is not one of {argument!r}"))
    if keyword == "items":
        return _items_check(compile_schema(argument, defs))
    if keyword == "minLength":
        return lambda value, where: (None if type(value) is not str or len(value) >= argument
                                     else (where, f"{value!r} is shorter than {argument} characters"))
    if keyword == "minItems":
        return lambda value, where: (None if type(value) is not list or len(value) >= argument
                                     else (where, f"{value!r} has fewer than {argument} items"))
    if keyword == "minimum":
        return lambda value, where: (None if type(value) not in (int, float) or value >= argument
                                     else (where, f"{value!r} is less than the minimum of {argument}"))
    if keyword == "oneOf":
        return _one_of_check([compile_schema(option, defs) for option in argument])
    return _unique_check() if argument else None  # uniqueItems


def _type_check(names: str | list[str]) -> Check:
    tests = [_TYPES[name] for name in ([names] if isinstance(names, str) else names)]
    label = names if isinstance(names, str) else " or ".join(names)
    return lambda value, where: None if any(test(value) for test in tests) else (where, f"{value!r} is not of type {label}")


def _required_check(names: list[str]) -> Check:
    def check(value: Any, where: str) -> Violation:
        if type(value) is dict:
            for name in names:
                if name not in value:
                    return where, f"{name!r} is a required property"
        return None

    return check


def _properties_check(properties: dict[str, dict], defs: dict[str, dict]) -> Check:
    checks = {name: compile_schema(schema, defs) for name, schema in properties.items()}

    def check(value: Any, where: str) -> Violation:
        if type(value) is not dict:
            return None
        for name, item in value.items():
            property_check = checks.get(name)
            if property_check is not None:
                violation = property_check(item, f"{where}/{name}")
                if violation is not None:
                    return violation
        return None

    return check


def _additional_check(allowed: bool | dict, named: set[str], defs: dict[str, dict]) -> Check | None:
    if allowed is True:
        return None
    extra_check = None if allowed is False else compile_schema(allowed, defs)

    def check(value: Any, where: str) -> Violation:
        if type(value) is not dict:
            return None
        for name, item in value.items():
            if name in named:
                continue
            if extra_check is None:
                return where, f"additional property {name!r} is not allowed"
            violation = extra_check(item, f"{where}/{name}")
            if violation is not None:
                return violation
        return None

    return check


def _items_check(item_check: Check) -> Check:
    def check(value: Any, where: str) -> Violation:
        if type(value) is not list:
            return None
        for index, item in enumerate(value):
            violation = item_check(item, f"{where}/{index}")
            if violation is not None:
                return violation
        return None

    return check


def _one_of_check(options: list[Check]) -> Check:
    def check(value: Any, where: str) -> Violation:
        matches = sum(1 for option in options if option(value, where) is None)
        return None if matches == 1 else (where, f"{value!r} matches {matches} of the {len(options)} oneOf options, not 1")

    return check


def _unique_check() -> Check:
    def check(value: Any, where: str) -> Violation:
        if type(value) is not list:
            return None
        for index, item in enumerate(value):
            if any(json_equal(item, earlier) for earlier in value[:index]):
                return where, f"{value!r} has non-unique elements"
        return None

    return check
