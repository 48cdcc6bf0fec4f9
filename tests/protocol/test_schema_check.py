"""conformance.protocol.schema_check gives the jsonschema library's verdict on every protocol schema."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from conformance.protocol import wire as protocol
from conformance.protocol.schema_check import compile_schema
from test_protocol import REQUESTS, VALUES

SCHEMAS = protocol.schemas()
DEFS = SCHEMAS["defs"]["$defs"]
REGISTRY = Registry().with_resources((s["$id"], Resource.from_contents(s)) for s in SCHEMAS.values())
NAMES = sorted(name for name in SCHEMAS if name != "defs")


def _valid_example(name: str) -> dict:
    op, kind = name.split(".")
    if kind == "request":
        return json.loads(json.dumps({"id": 7, "op": op, **REQUESTS[op]}))  # a copy: mutations stay local
    if op == "error":
        return protocol.failure(7, "busy", "held", "x.jsonl")
    return json.loads(json.dumps(protocol.success(7, protocol.encode_result(op, VALUES[op]))))


JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.floats(-2, 2, allow_nan=False),
                         st.sampled_from(["", "x", "busy", "zst", "reader", "compressed", "hello", "1"]))
JSON_VALUES = st.recursive(JSON_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(["path", "id", "x", "kind"]), inner, max_size=3)),
    max_leaves=6)


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*prefix, index))


@st.composite
def mutated(draw, name: str):
    """A valid example of ``name`` with one value replaced, one key dropped or one key added."""
    message = _valid_example(name)
    path = draw(st.sampled_from(list(_paths(message))))
    if not path:
        return draw(JSON_VALUES)
    parent = message
    for part in path[:-1]:
        parent = parent[part]
    action = draw(st.sampled_from(["replace", "drop", "add"]))
    if action == "replace" or not isinstance(parent, dict):
        parent[path[-1]] = draw(JSON_VALUES)
    elif action == "drop":
        del parent[path[-1]]
    else:
        parent[draw(st.sampled_from(["extra", "path", "id", "ok"]))] = draw(JSON_VALUES)
    return message


JSONSCHEMA = {name: Draft202012Validator(SCHEMAS[name], registry=REGISTRY) for name in NAMES}
FAST = {name: compile_schema(SCHEMAS[name], DEFS) for name in NAMES}


def _agree(name: str, message) -> None:
    reference = JSONSCHEMA[name].is_valid(message)
    fast = FAST[name](message, "") is None
    assert fast == reference, f"{name}: jsonschema says valid={reference}, schema_check says {fast} for {message!r}"


@pytest.mark.parametrize("name", NAMES)
def test_valid_examples_pass(name: str) -> None:
    _agree(name, _valid_example(name))
    assert FAST[name](_valid_example(name), "") is None


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_messages_get_the_jsonschema_verdict(name: str, data) -> None:
    _agree(name, data.draw(mutated(name)))


def test_an_unsupported_keyword_is_refused_not_ignored() -> None:
    with pytest.raises(ValueError, match="pattern"):
        compile_schema({"type": "string", "pattern": "^x"}, DEFS)
