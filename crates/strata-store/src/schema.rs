//! JSON Schemas of the records' times, which the derive cannot read from `serialize_with`.
//! Each time has two forms: the API sends exact milliseconds for records that go through
//! [`crate::store::to_wire`] and RFC 3339 text for the rest, and every time's deserializer
//! accepts either. So a schema depends on the contract: what is sent, or what is accepted.

use schemars::{Schema, SchemaGenerator, json_schema};

fn millis() -> Schema {
    json_schema!({"type": "integer", "description": "Milliseconds since the Unix epoch"})
}

fn text() -> Schema {
    json_schema!({"type": "string", "format": "date-time", "description": "An RFC 3339 time"})
}

fn accepted() -> Schema {
    json_schema!({
        "description": "Milliseconds since the Unix epoch, or an RFC 3339 time",
        "anyOf": [{"type": "integer"}, {"type": "string", "format": "date-time"}]
    })
}

fn or_null(schema: Schema) -> Schema {
    json_schema!({"anyOf": [schema, {"type": "null"}]})
}

/// A time of a record the API sends with exact times.
pub(crate) fn exact_time(generator: &mut SchemaGenerator) -> Schema {
    if generator.contract().is_serialize() {
        millis()
    } else {
        accepted()
    }
}

pub(crate) fn exact_time_or_null(generator: &mut SchemaGenerator) -> Schema {
    or_null(exact_time(generator))
}

/// A time of a record the API sends as serde writes it.
pub(crate) fn text_time(generator: &mut SchemaGenerator) -> Schema {
    if generator.contract().is_serialize() {
        text()
    } else {
        accepted()
    }
}

pub(crate) fn text_time_or_null(generator: &mut SchemaGenerator) -> Schema {
    or_null(text_time(generator))
}
