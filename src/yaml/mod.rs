//! Kubernetes' YAML dialect: reading manifests as kubectl does (YAML 1.1 scalar resolution on
//! a parser that keeps each scalar's style) and writing values back so they read the same.

pub mod emit;
pub(crate) mod read;
pub(crate) mod resolve;

pub use emit::to_yaml;

use serde_json::Value;

/// Reads one YAML document (kubectl's dialect, repeated keys refused) into a JSON value;
/// the error names the line and column.
pub fn from_str(text: &str) -> Result<Value, String> {
    let budget = read::ValueBudget::new();
    budget.grant(text.len());
    read::read_document(text, &budget).map_err(|error| {
        format!(
            "{} at line {} column {}",
            error.message, error.line, error.column
        )
    })
}

/// Reads one YAML document as kustomize reads a kustomization: kubectl's dialect, but a repeated
/// key keeps its last value (go-yaml v2 decoding into a map) instead of being refused.
pub(crate) fn from_str_last_key_wins(text: &str) -> Result<Value, String> {
    let budget = read::ValueBudget::new();
    budget.grant(text.len());
    read::read_document_with(text, &budget, read::RepeatedKeys::LastWins).map_err(|error| {
        format!(
            "{} at line {} column {}",
            error.message, error.line, error.column
        )
    })
}
