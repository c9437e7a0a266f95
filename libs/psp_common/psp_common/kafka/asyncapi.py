"""AsyncAPI documentation helpers: what a subscriber's handler takes and what a service publishes, as schemas."""

from __future__ import annotations

from typing import Annotated, Any

from faststream.kafka import KafkaBroker
from pydantic import BaseModel, TypeAdapter, WithJsonSchema

Schema = type[BaseModel] | dict[str, Any]


def documented(body_type: Any, schema: Schema | None) -> Any:
    """What FastStream hands the handler (its message, not validated), shown in AsyncAPI as ``schema`` (a model or a
    JSON Schema; without one, as ``body_type``).

    FastStream hands the handler its undecoded message (parsing stays ours, so a malformed message is
    dead-lettered with its reason instead of failing FastStream's own validation); only the document changes.
    """
    if schema is None:
        json_schema = TypeAdapter(body_type).json_schema()
    else:
        json_schema = schema if isinstance(schema, dict) else schema.model_json_schema()
    return Annotated[Any, WithJsonSchema(inlined(json_schema))]  # Any: the value is FastStream's message


def inlined(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with every ``#/$defs/...`` reference replaced by its definition (pydantic resolves a ``$ref``
    in a ``WithJsonSchema`` against its own definitions, which do not hold the model's)."""
    defs: dict[str, Any] = schema.get("$defs", {})

    def resolve(node: Any, seen: tuple[str, ...]) -> Any:
        if isinstance(node, list):
            return [resolve(v, seen) for v in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            name = ref.removeprefix("#/$defs/")
            if name in seen:
                raise ValueError(f"recursive schema {name} cannot be inlined")
            rest = {k: v for k, v in node.items() if k != "$ref"}
            return {**resolve(defs[name], (*seen, name)), **resolve(rest, seen)}
        return {k: resolve(v, seen) for k, v in node.items() if k != "$defs"}

    out: dict[str, Any] = resolve(schema, ())
    return out


def document_publisher(broker: KafkaBroker, topic: str, model: type[BaseModel], description: str) -> Any:
    """Declare a topic this service publishes (via its outbox) so AsyncAPI documents its payload."""
    return broker.publisher(topic, schema=model, title=f"{topic}:{model.__name__}", description=description)
