//! The JSON Schemas of the tools, generated the way rmcp generates them but kept once.
//!
//! rmcp's own helpers cache every schema per thread, raw and stripped, so each one would
//! be held twice for the life of the process on top of the copy in the tool list. These
//! build a schema without caching; [`super::SshMcp`] builds its tool list once per process
//! and every handler shares it.

use std::sync::Arc;

use rmcp::model::JsonObject;
use schemars::JsonSchema;
use schemars::generate::SchemaSettings;

/// `inputSchema`: what `T` accepts (JSON Schema 2020-12), without the top-level `title`
/// and `description` (the Rust type's name and doc), and compact: every client hands the
/// input schemas to the model, so each byte is paid for in every conversation (see
/// [`compact`]).
pub fn input<T: JsonSchema>() -> Arc<JsonObject> {
    let mut object = Arc::unwrap_or_clone(stripped::<T>(SchemaSettings::draft2020_12()));
    object.remove("$schema");
    compact_object(&mut object);
    Arc::new(object)
}

/// Takes out what says nothing to a model or a validator: `"default": null` (an optional
/// parameter is simply not required), `null` in the types of optional parameters, the
/// non-standard integer `format`s (`uint64`, …; `minimum` stays), and the line breaks of
/// doc comments.
pub fn compact(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(o) => compact_object(o),
        serde_json::Value::Array(a) => a.iter_mut().for_each(compact),
        _ => {}
    }
}

fn compact_object(o: &mut JsonObject) {
    if o.get("default").is_some_and(serde_json::Value::is_null) {
        o.remove("default");
    }
    if let Some(serde_json::Value::Array(types)) = o.get("type")
        && types.len() == 2
        && let Some(other) = types.iter().find(|t| *t != "null")
        && types.iter().any(|t| t == "null")
    {
        let other = other.clone();
        o.insert("type".into(), other);
    }
    if o.get("format")
        .and_then(serde_json::Value::as_str)
        .is_some_and(|f| f.starts_with("uint") || f.starts_with("int"))
    {
        o.remove("format");
    }
    if let Some(serde_json::Value::String(d)) = o.get_mut("description") {
        *d = d.replace('\n', " ");
    }
    o.values_mut().for_each(compact);
}

/// `outputSchema`: what `T` serializes to, without the top-level `title` and
/// `description`.
pub fn output<T: JsonSchema>() -> Arc<JsonObject> {
    stripped::<T>(SchemaSettings::draft2020_12().for_serialize())
}

fn stripped<T: JsonSchema>(settings: SchemaSettings) -> Arc<JsonObject> {
    let schema = settings.into_generator().into_root_schema_for::<T>();
    let mut object = match schema.to_value() {
        serde_json::Value::Object(object) => object,
        // A boolean schema (`true`: anything) as the object it stands for.
        _ => JsonObject::new(),
    };
    object.remove("title");
    object.remove("description");
    Arc::new(object)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mcp::types::{ConnectParams, ConnectResult, ListSessionsResult};

    /// The schemas are the ones rmcp's helpers would have produced (the input ones
    /// compacted).
    #[test]
    fn schemas_match_rmcps() {
        use rmcp::handler::server::common::schema_for_input;
        use rmcp::handler::server::tool::schema_for_output;
        let mut theirs = serde_json::Value::Object(
            (*schema_for_input::<ConnectParams>().unwrap_or_default()).clone(),
        );
        if let Some(o) = theirs.as_object_mut() {
            o.remove("$schema");
        }
        compact(&mut theirs);
        assert_eq!(
            serde_json::Value::Object((*input::<ConnectParams>()).clone()),
            theirs
        );
        let port = &input::<ConnectParams>()["properties"]["username"];
        assert_eq!(port["type"], "string", "{port}");
        assert!(port.get("default").is_none(), "{port}");
        assert_eq!(
            output::<ConnectResult>(),
            schema_for_output::<ConnectResult>()
        );
        assert_eq!(
            output::<ListSessionsResult>(),
            schema_for_output::<ListSessionsResult>()
        );
        assert_eq!(input::<ConnectParams>()["type"], "object");
    }
}
