//! The names kubectl-gitops writes on objects that several layers read: the field manager of
//! every write and the ApplySet labels and annotations (the ApplySet specification's, KEP 3659).
//! A leaf: it imports nothing, so the inventory and the planner can share it without knowing
//! each other.

/// The field manager every write (and dry-run) of ours uses.
pub const FIELD_MANAGER: &str = "kubectl-gitops";

/// On an ApplySet's parent: the set's id.
pub const LABEL_ID: &str = "applyset.kubernetes.io/id";
/// On each member: the id of the set it belongs to.
pub const LABEL_PART_OF: &str = "applyset.kubernetes.io/part-of";
/// On the parent: the tool that manages the set (`kubectl-gitops/<version>`).
pub const ANNOTATION_TOOLING: &str = "applyset.kubernetes.io/tooling";
/// On the parent: the group-kinds of the set's members.
pub const ANNOTATION_GROUP_KINDS: &str = "applyset.kubernetes.io/contains-group-kinds";
/// On the parent: the namespaces of members besides the parent's own.
pub const ANNOTATION_NAMESPACES: &str = "applyset.kubernetes.io/additional-namespaces";
