//! Splits a YAML stream into its documents while remembering where each one starts.
//!
//! We split the text ourselves rather than let the YAML parser iterate documents: a syntax error
//! in one document then cannot hide the others, and every object gets the line its document
//! starts on. YAML forbids `---` and `...` at the start of a line inside a document's content,
//! so those lines are exactly the document boundaries.

/// One document's text and position in the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DocumentText<'a> {
    /// Position among the stream's documents, from 0 (empty documents count).
    pub index: usize,
    /// Line in the stream of `text`'s first line, from 1.
    pub first_line: usize,
    /// Line of the first content (not blank, comment or directive), if the document has any.
    pub content_line: Option<usize>,
    /// The document's lines, including a leading `---` marker line but not a `...` end marker.
    pub text: &'a str,
}

/// Splits `text` at `---` and `...` marker lines.
pub(crate) fn split_documents(text: &str) -> Vec<DocumentText<'_>> {
    let mut documents = Vec::new();
    let mut current = Pending::new(0, 1, false);
    let mut offset = 0;

    for (i, raw_line) in text.split_inclusive('\n').enumerate() {
        let line_no = i + 1;
        let line = raw_line.trim_end_matches(['\n', '\r']);
        if let Some(rest) = marker_rest(line, "---") {
            current.finish(text, offset, &mut documents);
            current = Pending::new(offset, line_no, true);
            // `--- value` puts the document's content on the marker line itself.
            if is_content(rest) {
                current.content_line = Some(line_no);
            }
        } else if marker_rest(line, "...").is_some() {
            current.finish(text, offset, &mut documents);
            // After an end marker a new document may start without `---`.
            current = Pending::new(offset + raw_line.len(), line_no + 1, false);
        } else if current.content_line.is_none() && is_content(line) && !line.starts_with('%') {
            current.content_line = Some(line_no);
        }
        offset += raw_line.len();
    }
    current.finish(text, text.len(), &mut documents);
    documents
}

/// A document whose end has not been seen yet.
struct Pending {
    start: usize,
    first_line: usize,
    /// Started by `---`: such a document exists even when empty, as a YAML parser would see it.
    explicit: bool,
    content_line: Option<usize>,
}

impl Pending {
    fn new(start: usize, first_line: usize, explicit: bool) -> Self {
        Pending {
            start,
            first_line,
            explicit,
            content_line: None,
        }
    }

    fn finish<'a>(&self, text: &'a str, end: usize, documents: &mut Vec<DocumentText<'a>>) {
        if !self.explicit && self.content_line.is_none() {
            return;
        }
        documents.push(DocumentText {
            index: documents.len(),
            first_line: self.first_line,
            content_line: self.content_line,
            text: text.get(self.start..end).unwrap_or_default(),
        });
    }
}

/// If `line` is the marker `marker` (alone or followed by whitespace), what follows it.
fn marker_rest<'a>(line: &'a str, marker: &str) -> Option<&'a str> {
    let rest = line.strip_prefix(marker)?;
    if rest.is_empty() || rest.starts_with([' ', '\t']) {
        Some(rest)
    } else {
        None
    }
}

fn is_content(line: &str) -> bool {
    let trimmed = line.trim();
    !trimmed.is_empty() && !trimmed.starts_with('#')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(text: &str) -> Vec<(usize, usize, Option<usize>, &str)> {
        split_documents(text)
            .into_iter()
            .map(|d| (d.index, d.first_line, d.content_line, d.text))
            .collect()
    }

    #[test]
    fn a_single_bare_document_is_the_whole_text() {
        assert_eq!(
            summary("a: 1\nb: 2\n"),
            vec![(0, 1, Some(1), "a: 1\nb: 2\n")]
        );
    }

    #[test]
    fn leading_comments_before_the_first_marker_are_not_a_document() {
        let text = "# header\n\n---\na: 1\n---\n# only a comment\n---\nb: 2\n";
        assert_eq!(
            summary(text),
            vec![
                (0, 3, Some(4), "---\na: 1\n"),
                (1, 5, None, "---\n# only a comment\n"),
                (2, 7, Some(8), "---\nb: 2\n"),
            ]
        );
    }

    #[test]
    fn content_on_the_marker_line_starts_the_document_there() {
        let docs = split_documents("--- {a: 1}\n--- # note\nb: 2\n");
        assert_eq!(docs[0].content_line, Some(1));
        assert_eq!(docs[1].content_line, Some(3));
    }

    #[test]
    fn end_markers_close_a_document_and_a_bare_one_may_follow() {
        let text = "a: 1\n...\nb: 2\n...\n";
        assert_eq!(
            summary(text),
            vec![(0, 1, Some(1), "a: 1\n"), (1, 3, Some(3), "b: 2\n")]
        );
    }

    #[test]
    fn markers_need_whitespace_or_line_end_after_them() {
        let docs = split_documents("a: ---x\n----\n---\r\nb: 1\r\n");
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1].first_line, 3);
        assert_eq!(docs[1].content_line, Some(4));
    }

    #[test]
    fn directives_alone_do_not_make_a_document() {
        let docs = split_documents("%YAML 1.2\n---\na: 1\n");
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0].content_line, Some(3));
    }

    #[test]
    fn empty_text_has_no_documents() {
        assert!(split_documents("").is_empty());
        assert!(split_documents("\n# nothing\n").is_empty());
    }
}
