//! Helpers shared by the CLI test binaries.

#![allow(clippy::unwrap_used)]

use std::path::Path;

/// A two-example arithmetic suite in `dir`: `d.jsonl` (2+2 → 4, 3+3 → 6) and `s.toml`
/// (suite `math`, exact match).
pub fn write_math_suite(dir: &Path) {
    std::fs::write(
        dir.join("d.jsonl"),
        "{\"q\":\"2+2\",\"a\":\"4\"}\n{\"q\":\"3+3\",\"a\":\"6\"}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("s.toml"),
        "name = \"math\"\nversion = \"1\"\ndata = \"d.jsonl\"\nprompt = \"{{ q }}\"\nreference = \"{{ a }}\"\n[[metrics]]\nkind = \"exact_match\"\n",
    )
    .unwrap();
}
