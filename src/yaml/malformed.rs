//! Why a YAML document is refused, one variant per reason, in the words go-yaml and kubectl
//! use (tests compare them with kubectl's).

use super::read::MAX_DEPTH;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum Malformed {
    /// The parser's own complaint (bad indentation, an unclosed quote, ...).
    #[error("{0}")]
    Syntax(String),
    #[error(
        "tag {tag}: did not find expected whitespace or line break (kubectl wants whitespace \
         after a tag, and takes no `#` in one)"
    )]
    TagUnended { tag: String },
    /// kubectl would read the first and silently drop the rest.
    #[error("a second document after `...` without a `---` line between them")]
    SecondDocument,
    #[error(
        "the manifests expand to more than {granted} values (through YAML aliases?); refusing \
         to load them"
    )]
    TooManyValues { granted: usize },
    #[error("anchor name {name:?}: only letters, digits, `_` and `-` are allowed")]
    AnchorName { name: String },
    #[error("unknown anchor referenced")]
    UnknownAnchor,
    /// A key that is a collection (`a sequence`, `a mapping`, `a collection`) or null.
    #[error("invalid map key: {0}")]
    InvalidKey(&'static str),
    #[error("unsupported map key of type uint64: {0}")]
    UnsignedKey(u64),
    #[error("unsupported map key: null")]
    NullKey,
    #[error("nesting deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("nesting deeper than {MAX_DEPTH} levels (through an alias)")]
    TooDeepThroughAlias,
    #[error("duplicate key {0:?} in a mapping")]
    DuplicateKey(String),
    #[error("map merge requires map or sequence of maps as the value")]
    MergeValue,
    /// A scalar whose tag asks for a type its text does not resolve to.
    #[error("cannot decode {found} `{text}` as a {wanted}")]
    CannotDecode {
        found: &'static str,
        text: String,
        wanted: &'static str,
    },
    #[error("!!binary value contains invalid base64 data")]
    Base64,
    /// Infinity and NaN (`+Inf`, `-Inf`, `NaN`) have no JSON form.
    #[error("{0} cannot be represented in JSON (kubectl refuses it too)")]
    NotFinite(&'static str),
    #[error("{0} cannot be represented in JSON")]
    NotJson(f64),
}
