//! The JSON Schemas of the tools: generated from the parameter and result types (their doc
//! comments are the one source of the text a model reads) and stored in `schemas.json`.
//!
//! The server reads the stored copy instead of running schemars at start-up, which keeps
//! schemars and every type's `JsonSchema` code out of the binaries. The test
//! `stored_schemas_should_be_the_generated_ones` regenerates them all and fails when the
//! file is stale; `SSH_MCP_WRITE_SCHEMAS=1 cargo test --lib schema` rewrites it.
//!
//! Input schemas are compact: every client hands them to the model, so each byte is paid for
//! in every conversation (see `compact` in the tests).

use std::sync::Arc;

use rmcp::model::JsonObject;
use schemars::JsonSchema;

const STORED: &str = include_str!("schemas.json");

/// `inputSchema` of a tool taking `T`: what `T` accepts (JSON Schema 2020-12), without the
/// top-level `title` and `description` (the Rust type's name and doc).
pub fn input<T: JsonSchema>() -> Arc<JsonObject> {
    stored("input", &T::schema_name())
}

/// `outputSchema` of a tool returning `T`: what `T` serializes to, without the top-level
/// `title` and `description`.
pub fn output<T: JsonSchema>() -> Arc<JsonObject> {
    stored("output", &T::schema_name())
}

/// The stored schema of `kind` (`input` or `output`) named `name`, read from its own line of
/// the file (nothing else of it is kept). A type missing from the file (which the tests rule
/// out) gets the schema of any object.
fn stored(kind: &str, name: &str) -> Arc<JsonObject> {
    #[cfg(test)]
    tests::note_use(kind, name);
    Arc::new(find(STORED, kind, name).unwrap_or_else(|| {
        tracing::error!(kind, name, "no stored schema");
        let mut any = JsonObject::new();
        any.insert("type".into(), "object".into());
        any
    }))
}

/// The schema named `name` in the `kind` section of `text` (line ends `\n` or `\r\n`).
fn find(text: &str, kind: &str, name: &str) -> Option<JsonObject> {
    let (start, key) = (format!("{kind:?}: {{"), format!("{name:?}: "));
    let line = text
        .lines()
        .skip_while(|l| *l != start)
        .skip(1)
        .take_while(|l| !l.starts_with('}'))
        .find_map(|l| l.strip_prefix(&key))?;
    serde_json::from_str(line.trim_end_matches(',')).ok()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::sync::Mutex;

    use schemars::generate::SchemaSettings;
    use serde_json::Value;

    use super::*;
    use crate::mcp::fanout::types::{FanoutParams, FanoutResult};
    use crate::mcp::file_types::*;
    use crate::mcp::shell_types::*;
    use crate::mcp::types::*;

    static USED: Mutex<BTreeSet<(String, String)>> = Mutex::new(BTreeSet::new());

    pub(super) fn note_use(kind: &str, name: &str) {
        if let Ok(mut used) = USED.lock() {
            used.insert((kind.to_string(), name.to_string()));
        }
    }

    /// Every schema the tools use, generated from the types.
    fn generated() -> Value {
        let mut input = JsonObject::new();
        let mut output = JsonObject::new();
        macro_rules! inputs {
            ($($t:ty),* $(,)?) => {$(
                let mut o = strip::<$t>(SchemaSettings::draft2020_12());
                o.remove("$schema");
                compact_object(&mut o);
                let name = <$t>::schema_name();
                let twice = input.insert(name.to_string(), Value::Object(o)).is_some();
                assert!(!twice, "two types named {name}");
            )*};
        }
        macro_rules! outputs {
            ($($t:ty),* $(,)?) => {$(
                let o = strip::<$t>(SchemaSettings::draft2020_12().for_serialize());
                let name = <$t>::schema_name();
                let twice = output.insert(name.to_string(), Value::Object(o)).is_some();
                assert!(!twice, "two types named {name}");
            )*};
        }
        inputs!(
            ConnectParams,
            DownloadParams,
            ExecuteParams,
            FanoutParams,
            ForwardCloseParams,
            ForwardParams,
            JobParams,
            ListDirParams,
            SessionParams,
            ShellCloseParams,
            ShellOpenParams,
            ShellReadParams,
            ShellSendParams,
            UploadParams,
        );
        outputs!(
            ConnectResult,
            DisconnectResult,
            DownloadResult,
            ExecuteResult,
            FanoutResult,
            ForwardCloseResult,
            ForwardResult,
            JobResult,
            ListDirResult,
            ListSessionsResult,
            ShellCloseResult,
            ShellResult,
            UploadResult,
        );
        serde_json::json!({"input": input, "output": output})
    }

    fn strip<T: JsonSchema>(settings: SchemaSettings) -> JsonObject {
        let schema = settings.into_generator().into_root_schema_for::<T>();
        let mut object = match schema.to_value() {
            Value::Object(object) => object,
            // A boolean schema (`true`: anything) as the object it stands for.
            _ => JsonObject::new(),
        };
        object.remove("title");
        object.remove("description");
        object
    }

    /// Takes out what says nothing to a model or a validator: `"default": null` (an optional
    /// parameter is simply not required), `null` in the types of optional parameters, the
    /// non-standard integer `format`s (`uint64`, …; `minimum` stays), and the line breaks of
    /// doc comments.
    fn compact(value: &mut Value) {
        match value {
            Value::Object(o) => compact_object(o),
            Value::Array(a) => a.iter_mut().for_each(compact),
            _ => {}
        }
    }

    fn compact_object(o: &mut JsonObject) {
        if o.get("default").is_some_and(Value::is_null) {
            o.remove("default");
        }
        if let Some(Value::Array(types)) = o.get("type")
            && types.len() == 2
            && let Some(other) = types.iter().find(|t| *t != "null")
            && types.iter().any(|t| t == "null")
        {
            let other = other.clone();
            o.insert("type".into(), other);
        }
        if o.get("format")
            .and_then(Value::as_str)
            .is_some_and(|f| f.starts_with("uint") || f.starts_with("int"))
        {
            o.remove("format");
        }
        if let Some(Value::String(d)) = o.get_mut("description") {
            *d = d.replace('\n', " ");
        }
        o.values_mut().for_each(compact);
    }

    #[test]
    fn stored_schemas_should_be_the_generated_ones() {
        // One schema per line: compact, and a change shows as the lines of its types.
        let all = generated();
        let mut text = String::from("{");
        for (i, kind) in ["input", "output"].into_iter().enumerate() {
            text += if i == 0 { "\n" } else { ",\n" };
            text += &format!("{kind:?}: {{");
            let schemas = all[kind].as_object().cloned().unwrap_or_default();
            for (j, (name, schema)) in schemas.iter().enumerate() {
                text += if j == 0 { "\n" } else { ",\n" };
                text += &format!("{name:?}: {schema}");
            }
            text += "\n}";
        }
        text += "\n}\n";
        if std::env::var_os("SSH_MCP_WRITE_SCHEMAS").is_some() {
            let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/mcp/schemas.json");
            assert!(std::fs::write(path, &text).is_ok(), "writing {path}");
            return;
        }
        assert!(
            STORED == text,
            "src/mcp/schemas.json is stale: rewrite it with \
             SSH_MCP_WRITE_SCHEMAS=1 cargo test --lib schema"
        );
    }

    /// Every schema a tool asks for is stored: a new parameter or result type must be added
    /// to `generated` above.
    #[test]
    fn every_tool_schema_should_be_stored() {
        let tools = crate::mcp::SshMcp::tools().list_all();
        assert!(tools.len() >= 10, "{}", tools.len());
        let stored = generated();
        let used = USED.lock().map(|u| u.clone()).unwrap_or_default();
        assert!(!used.is_empty());
        for (kind, name) in used {
            let schema = stored[&kind].get(&name);
            assert!(
                schema.is_some(),
                "{kind} schema {name} is not generated; add it to `generated`"
            );
            assert_eq!(
                schema,
                Some(&Value::Object((*super::stored(&kind, &name)).clone()))
            );
        }
    }

    /// A checkout with Windows line ends reads the same schemas; a name is looked up in its
    /// own section only.
    #[test]
    fn lookups_should_read_either_line_end_and_stay_in_their_section() {
        let text = STORED.replace('\n', "\r\n");
        let generated = generated();
        assert_eq!(
            find(&text, "input", "ConnectParams").as_ref(),
            generated["input"]["ConnectParams"].as_object()
        );
        assert!(find(STORED, "output", "ConnectParams").is_none());
        assert!(find(STORED, "input", "ConnectResult").is_none());
        assert!(find(STORED, "input", "Nothing").is_none());
    }

    /// The schemas are the ones rmcp's helpers would have produced (the input ones
    /// compacted).
    #[test]
    fn schemas_should_match_rmcps() {
        use rmcp::handler::server::common::schema_for_input;
        use rmcp::handler::server::tool::schema_for_output;
        let mut theirs =
            Value::Object((*schema_for_input::<ConnectParams>().unwrap_or_default()).clone());
        if let Some(o) = theirs.as_object_mut() {
            o.remove("$schema");
        }
        compact(&mut theirs);
        assert_eq!(Value::Object((*input::<ConnectParams>()).clone()), theirs);
        let user = &input::<ConnectParams>()["properties"]["username"];
        assert_eq!(user["type"], "string", "{user}");
        assert!(user.get("default").is_none(), "{user}");
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
