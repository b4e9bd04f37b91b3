//! Structured tool results: the `structuredContent` object and its copy as text.
//!
//! rmcp's own `Json` wrapper builds the value, then prints the value through `Display` for
//! the text copy, a print through a formatter adapter: for a shell read it took about 15,000
//! of the 24,000 instructions the conversion cost. Here the text is written straight from the
//! typed result. The text keeps the fields in their declared order and the value, a map,
//! sorts them; both carry the same fields and values.

use rmcp::ErrorData;
use rmcp::handler::server::tool::IntoCallToolResult;
use rmcp::model::{CallToolResponse, CallToolResult, ContentBlock};
use serde::Serialize;

/// A tool's structured result (an object matching the tool's output schema).
#[derive(Debug)]
pub struct Json<T>(pub T);

impl<T: Serialize> IntoCallToolResult for Json<T> {
    fn into_call_tool_result(self) -> Result<CallToolResponse, ErrorData> {
        let text = serde_json::to_string(&self.0).map_err(unserializable)?;
        Ok(with_text(&self.0, text)?.into())
    }
}

/// A successful result holding `value` as structured content and `text` as its content.
pub fn with_text<T: Serialize>(value: &T, text: String) -> Result<CallToolResult, ErrorData> {
    let value = serde_json::to_value(value).map_err(unserializable)?;
    let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
    result.structured_content = Some(value);
    Ok(result)
}

fn unserializable(e: serde_json::Error) -> ErrorData {
    ErrorData::internal_error(format!("Failed to serialize structured content: {e}"), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Sample {
        shell_id: String,
        exit_code: Option<i32>,
        output: String,
        cursor: Cursor,
    }

    #[derive(Serialize)]
    struct Cursor {
        row: u16,
        col: u16,
    }

    fn sample() -> Sample {
        Sample {
            shell_id: "s1".into(),
            exit_code: None,
            output: "a \"quoted\"\nline \u{1b}".into(),
            cursor: Cursor { row: 1, col: 2 },
        }
    }

    #[test]
    fn the_text_and_the_structured_content_should_be_the_same_object() {
        let expected = serde_json::to_value(sample()).unwrap();
        let CallToolResponse::Complete(result) = Json(sample()).into_call_tool_result().unwrap()
        else {
            panic!("not a complete result");
        };
        assert_eq!(result.is_error, Some(false));
        assert_eq!(result.structured_content.as_ref(), Some(&expected));
        assert_eq!(result.content.len(), 1);
        let text = result.content[0].as_text().unwrap().text.clone();
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed, expected);
        // The same as rmcp's own wrapper gives, field for field.
        let CallToolResponse::Complete(theirs) =
            rmcp::Json(serde_json::to_value(sample()).unwrap())
                .into_call_tool_result()
                .unwrap()
        else {
            panic!("not a complete result");
        };
        assert_eq!(theirs.structured_content, result.structured_content);
        assert_eq!(theirs.is_error, result.is_error);
        assert_eq!(theirs.result_type, result.result_type);
        let theirs_text: serde_json::Value =
            serde_json::from_str(&theirs.content[0].as_text().unwrap().text).unwrap();
        assert_eq!(theirs_text, parsed);
    }
}
