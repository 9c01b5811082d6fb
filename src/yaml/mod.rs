//! Kubernetes' YAML dialect: reading manifests as kubectl does (YAML 1.1 scalar resolution on
//! a parser that keeps each scalar's style) and writing values back so they read the same.

pub mod emit;
mod malformed;
pub(crate) mod read;
pub(crate) mod resolve;

pub use emit::to_yaml;
pub use read::ReadError;

use serde_json::Value;

/// Reads one YAML document (kubectl's dialect, repeated keys refused) into a JSON value;
/// the error names the line and column.
pub fn from_str(text: &str) -> Result<Value, ReadError> {
    let budget = read::ValueBudget::new();
    budget.grant(text.len());
    read::read_document(text, &budget)
}

/// Reads one YAML document as kustomize reads a kustomization: kubectl's dialect, but a repeated
/// key keeps its last value (go-yaml v2 decoding into a map) instead of being refused.
pub(crate) fn from_str_last_key_wins(text: &str) -> Result<Value, ReadError> {
    let budget = read::ValueBudget::new();
    budget.grant(text.len());
    read::read_document_with(text, &budget, read::RepeatedKeys::LastWins)
}
