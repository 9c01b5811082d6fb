//! Splits a YAML stream into its documents while remembering where each one starts.
//!
//! We split the text ourselves rather than let the YAML parser iterate documents: a syntax error
//! in one document then cannot hide the others, and every object gets the line its document
//! starts on. The split is kubectl's: a document ends at a line that is `---` followed by
//! nothing but whitespace. kubectl refuses any other line starting with `---` ("invalid document
//! separator") and any `%` directive (its parts reach the YAML parser without the document the
//! directive belongs to), so both are reported as problems of their document.

/// One document's text and position in the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DocumentText<'a> {
    /// Position among the stream's documents, from 0 (empty documents count).
    pub index: usize,
    /// Line in the stream of `text`'s first line, from 1.
    pub first_line: usize,
    /// Line of the first content (not blank or comment), if the document has any.
    pub content_line: Option<usize>,
    /// The document's lines, including a leading `---` marker line.
    pub text: &'a str,
    /// A line kubectl refuses to read, and why.
    pub problem: Option<(usize, &'static str)>,
}

/// Splits `text` at `---` separator lines.
pub(crate) fn split_documents(text: &str) -> Vec<DocumentText<'_>> {
    let mut documents = Vec::new();
    let mut current = Pending::new(0, 1, false);
    let mut offset = 0;

    for (i, raw_line) in text.split_inclusive('\n').enumerate() {
        let line_no = i + 1;
        let line = raw_line.trim_end_matches(['\n', '\r']);
        if let Some(rest) = line.strip_prefix("---") {
            if rest.trim().is_empty() {
                current.finish(text, offset, &mut documents);
                current = Pending::new(offset, line_no, true);
            } else {
                current.problem(
                    line_no,
                    "a document separator `---` must be alone on its line (kubectl refuses `--- content`)",
                );
            }
        } else if line.starts_with('%') {
            current.problem(
                line_no,
                "YAML directives (`%YAML`, `%TAG`) are refused: kubectl cannot read them",
            );
        } else if current.content_line.is_none() && is_content(line) {
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
    problem: Option<(usize, &'static str)>,
}

impl Pending {
    fn new(start: usize, first_line: usize, explicit: bool) -> Self {
        Pending {
            start,
            first_line,
            explicit,
            content_line: None,
            problem: None,
        }
    }

    fn problem(&mut self, line: usize, why: &'static str) {
        self.problem.get_or_insert((line, why));
        self.content_line.get_or_insert(line);
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
            problem: self.problem,
        });
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
    fn content_on_a_separator_line_is_a_problem_as_in_kubectl() {
        let docs = split_documents("a: 1\n--- {a: 1}\n---\nb: 2\n");
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].problem.map(|(line, _)| line), Some(2));
        assert_eq!(docs[1].problem, None);
        let docs = split_documents("--- # note\nb: 2\n");
        assert!(docs[0].problem.is_some());
    }

    #[test]
    fn end_markers_do_not_split_documents() {
        // kubectl hands the whole part to the YAML parser, which then sees two documents.
        let text = "a: 1\n...\nb: 2\n...\n";
        assert_eq!(summary(text), vec![(0, 1, Some(1), text)]);
    }

    #[test]
    fn separators_may_carry_trailing_whitespace_only() {
        let docs = split_documents("a: ---x\n---  \t\r\nb: 1\r\n");
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1].first_line, 2);
        assert_eq!(docs[1].content_line, Some(3));
        assert!(docs.iter().all(|d| d.problem.is_none()));
    }

    #[test]
    fn directives_are_a_problem() {
        let docs = split_documents("%YAML 1.2\n---\na: 1\n");
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].problem.map(|(line, _)| line), Some(1));
    }

    #[test]
    fn empty_text_has_no_documents() {
        assert!(split_documents("").is_empty());
        assert!(split_documents("\n# nothing\n").is_empty());
    }
}
