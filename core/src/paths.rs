//! Guards on where a command writes. No command may write to a path that is one of its
//! inputs, inside an input folder, or to a folder that holds an input: a swap of the output
//! folder or a file written into it would destroy what the command reads. The check runs
//! before any work and names both paths.
//!
//! Paths are compared after resolving symbolic links and `..` (an output that does not exist
//! yet is resolved through its nearest existing ancestor), so `out/../base` and a link to
//! `base` are both caught.

use std::path::{Path, PathBuf};

/// An output path that overlaps an input.
#[derive(Debug, thiserror::Error)]
#[error(
    "{output_role} `{}` {relation} {input_role} `{}`: writing there would destroy an input\nhint: choose an output path outside every input (a new or empty folder)",
    output.display(),
    input.display()
)]
pub struct Overlap {
    /// What the output is (e.g. "--out", "[data] out_dir").
    pub output_role: String,
    /// The output as the user gave it.
    pub output: PathBuf,
    /// How the two overlap, in words ("is", "lies inside", "holds").
    pub relation: &'static str,
    /// What the input is (e.g. "the base model folder").
    pub input_role: String,
    /// The input as the user gave it.
    pub input: PathBuf,
}

/// `path` taken from `base` (unless absolute), with `.` and `..` folded away lexically so
/// paths read well in messages and settings.
pub fn under(base: &Path, path: impl AsRef<Path>) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in base.join(path).components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// `Err` when `output` is one of `inputs`, lies inside one, or holds one. Each path comes
/// with the role it plays, for the message.
pub fn refuse_overlap(output: (&str, &Path), inputs: &[(&str, &Path)]) -> Result<(), Overlap> {
    let out = resolve(output.1);
    for &(role, input) in inputs {
        let inp = resolve(input);
        let relation = if out == inp {
            Some("is")
        } else if out.starts_with(&inp) {
            Some("lies inside")
        } else if inp.starts_with(&out) {
            Some("holds")
        } else {
            None
        };
        if let Some(relation) = relation {
            return Err(Overlap {
                output_role: output.0.to_string(),
                output: output.1.to_path_buf(),
                relation,
                input_role: role.to_string(),
                input: input.to_path_buf(),
            });
        }
    }
    Ok(())
}

/// The absolute, link-free form of `path`; the part that does not exist yet is appended
/// lexically to its nearest existing ancestor.
fn resolve(path: &Path) -> PathBuf {
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(path)
    };
    let mut missing = Vec::new();
    let mut existing = absolute.as_path();
    loop {
        if let Ok(real) = existing.canonicalize() {
            let mut out = real;
            for part in missing.iter().rev() {
                match part {
                    std::path::Component::ParentDir => {
                        out.pop();
                    }
                    std::path::Component::CurDir => {}
                    other => out.push(other),
                }
            }
            return out;
        }
        match (existing.parent(), existing.components().next_back()) {
            (Some(parent), Some(last)) => {
                missing.push(last);
                existing = parent;
            }
            _ => return absolute,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn output_equal_to_inside_or_holding_an_input_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().join("base");
        std::fs::create_dir_all(&base).unwrap();
        let input = [("the base model folder", base.as_path())];

        let same = refuse_overlap(("--out", &tmp.path().join("x/../base")), &input).unwrap_err();
        assert_eq!(same.relation, "is");
        let inside = refuse_overlap(("--out", &base.join("merged")), &input).unwrap_err();
        assert_eq!(inside.relation, "lies inside");
        let holds = refuse_overlap(("--out", tmp.path()), &input).unwrap_err();
        assert_eq!(holds.relation, "holds");
        let text = same.to_string();
        assert!(
            text.contains("--out") && text.contains("the base model folder"),
            "{text}"
        );

        refuse_overlap(("--out", &tmp.path().join("merged")), &input).unwrap();
        // A sibling whose name starts like the input is not inside it.
        refuse_overlap(("--out", &tmp.path().join("base-merged")), &input).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn a_symbolic_link_to_an_input_is_the_input() {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().join("base");
        std::fs::create_dir_all(&base).unwrap();
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&base, &link).unwrap();
        let err = refuse_overlap(("--out", &link), &[("input", base.as_path())]).unwrap_err();
        assert_eq!(err.relation, "is");
    }
}
