//! Error messages for people: an error and its causes on one line, `outer: cause: root`,
//! leaving out a cause whose text the line already holds (many errors here say
//! `cannot write {path}: {source}` *and* expose that source as their cause, which anyhow's
//! `{:#}` would print twice). The CLI and the UI both show errors this way.

use std::error::Error;

/// One line: the error, then each cause not already in the text.
pub fn error_line(error: &(dyn Error + 'static)) -> String {
    let mut line = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !text.is_empty() && !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        cause = c.source();
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot write out.csv: {source}")]
    struct Repeats {
        #[source]
        source: std::io::Error,
    }

    #[derive(Debug, thiserror::Error)]
    #[error("export failed")]
    struct Hides {
        #[source]
        source: Repeats,
    }

    #[test]
    fn causes_are_added_once() {
        let io = || std::io::Error::new(std::io::ErrorKind::NotFound, "no such folder");
        assert_eq!(
            error_line(&Repeats { source: io() }),
            "cannot write out.csv: no such folder"
        );
        assert_eq!(
            error_line(&Hides {
                source: Repeats { source: io() }
            }),
            "export failed: cannot write out.csv: no such folder"
        );
    }
}
