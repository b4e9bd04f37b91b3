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
/// and `description` (the Rust type's name and doc).
pub fn input<T: JsonSchema>() -> Arc<JsonObject> {
    stripped::<T>(SchemaSettings::draft2020_12())
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

    /// The schemas are the ones rmcp's helpers would have produced.
    #[test]
    fn schemas_match_rmcps() {
        use rmcp::handler::server::common::schema_for_input;
        use rmcp::handler::server::tool::schema_for_output;
        assert_eq!(
            input::<ConnectParams>(),
            schema_for_input::<ConnectParams>().unwrap_or_default()
        );
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
