//! Render: a snapshot's files -> the Kubernetes objects they describe, each with its origin.
//!
//! Plain `*.yaml`/`*.yml`/`*.json` files are loaded directly (multi-document YAML, JSON, and
//! `kind: List` flattened). A directory holding a kustomization is built by kustomize as one
//! unit and its sub-directories are not loaded again. Every error cites where it comes from.

use std::fmt;
use std::path::PathBuf;

use serde_json::{Map, Value};

use crate::object::ObjectRef;

/// Where a rendered object came from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Origin {
    /// File relative to the repository root (see `Snapshot::display_prefix`); for kustomize
    /// output, the kustomization file.
    pub file: PathBuf,
    /// Index of the YAML document in the file (or in kustomize's output), from 0.
    pub document: usize,
    /// Line of the document's first line in the file, from 1 (for kustomize output, the line in
    /// its output).
    pub line: usize,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// One desired object and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// The object as written: a JSON object with at least `apiVersion`, `kind` and
    /// `metadata.name` (or `metadata.generateName`).
    pub object: Map<String, Value>,
    pub origin: Origin,
}

impl Manifest {
    pub fn api_version(&self) -> &str {
        self.object.get("apiVersion").and_then(Value::as_str).unwrap_or_default()
    }

    pub fn kind(&self) -> &str {
        self.object.get("kind").and_then(Value::as_str).unwrap_or_default()
    }

    fn metadata_str(&self, key: &str) -> Option<&str> {
        self.object.get("metadata")?.get(key)?.as_str()
    }

    pub fn name(&self) -> &str {
        self.metadata_str("name").unwrap_or_default()
    }

    /// The namespace as written in the manifest, if any.
    pub fn namespace(&self) -> Option<&str> {
        self.metadata_str("namespace").filter(|ns| !ns.is_empty())
    }

    /// The object's reference with the namespace as written (namespace defaulting happens at
    /// plan time, where the resource's scope is known).
    pub fn object_ref(&self) -> ObjectRef {
        ObjectRef::new(
            self.api_version(),
            self.kind(),
            self.namespace().map(str::to_string),
            self.name(),
        )
    }
}
