//! Keeps credentials out of what tunebench prints, at every verbosity.
//!
//! The AWS SDK's debug lines (`-vv`) print the access key id of the credentials they load
//! (they redact only the secret key), and aws-sigv4's canonical requests carry the session
//! token. Rather than trusting every dependency's `Debug`, each log line and error message
//! passes through [`redact`], which replaces the values of the credentials in the
//! environment (and of the API keys a config names) with `***`, and masks anything shaped
//! like an AWS access key id (`AKIA…`, `ASIA…`) from other sources, such as a profile file.

use std::borrow::Cow;
use std::io::Write;
use std::sync::RwLock;

/// Secrets to replace, longest first (so a secret containing another is replaced whole).
static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Variables that hold credentials whatever their value looks like.
const CREDENTIAL_VARS: &[&str] = &[
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_BEARER_TOKEN_BEDROCK",
    "OPENAI_API_KEY",
];

/// Name endings that say a variable holds a secret (`MY_ENDPOINT_API_KEY`, `HF_TOKEN`).
const SECRET_SUFFIXES: &[&str] = &["_KEY", "_SECRET", "_TOKEN", "_PASSWORD", "APIKEY"];

/// Shorter values are not redacted: replacing every `abc` would garble the output and
/// protect nothing.
const MIN_SECRET_LEN: usize = 8;

/// The first four characters of AWS access key ids (IAM user keys, temporary keys, and the
/// unique ids of roles, users and groups that look the same).
const KEY_ID_PREFIXES: &[&str] = &[
    "AKIA", "ASIA", "AIDA", "AROA", "AIPA", "ANPA", "ANVA", "AGPA", "APKA", "ABIA", "ACCA",
];

/// Registers the values of the credential variables and of every variable whose name ends
/// like a secret's.
pub fn from_environment() {
    for (name, value) in std::env::vars_os() {
        let (Some(name), Some(value)) = (name.to_str(), value.to_str()) else {
            continue;
        };
        let upper = name.to_ascii_uppercase();
        if CREDENTIAL_VARS.contains(&upper.as_str())
            || SECRET_SUFFIXES.iter().any(|s| upper.ends_with(s))
        {
            add(value);
        }
    }
}

/// Registers the value of the variable `name` (e.g. a candidate's `api_key_env`).
pub fn add_var(name: &str) {
    if let Ok(value) = std::env::var(name) {
        add(&value);
    }
}

/// Registers one secret value.
pub fn add(secret: &str) {
    let secret = secret.trim();
    if secret.chars().count() < MIN_SECRET_LEN {
        return;
    }
    let mut all = SECRETS.write().unwrap_or_else(|e| e.into_inner());
    if !all.iter().any(|s| s == secret) {
        all.push(secret.to_owned());
        all.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }
}

/// `text` with every registered secret replaced by `***` and every AWS access key id masked.
pub fn redact(text: &str) -> Cow<'_, str> {
    let mut out = Cow::Borrowed(text);
    {
        let secrets = SECRETS.read().unwrap_or_else(|e| e.into_inner());
        for s in secrets.iter() {
            if out.contains(s.as_str()) {
                out = Cow::Owned(out.replace(s.as_str(), "***"));
            }
        }
    }
    if KEY_ID_PREFIXES.iter().any(|p| out.contains(p)) {
        out = Cow::Owned(mask_key_ids(&out));
    }
    out
}

/// Masks `AKIA` + 16 upper-case letters or digits standing alone as `AKIA***`.
fn mask_key_ids(text: &str) -> String {
    const ID_LEN: usize = 20;
    let bytes = text.as_bytes();
    let id_char = |b: u8| b.is_ascii_uppercase() || b.is_ascii_digit();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while i + ID_LEN <= bytes.len() {
        let starts_word = i == 0 || !bytes[i - 1].is_ascii_alphanumeric();
        let ends_word = bytes
            .get(i + ID_LEN)
            .is_none_or(|b| !b.is_ascii_alphanumeric());
        if starts_word
            && ends_word
            && KEY_ID_PREFIXES
                .iter()
                .any(|p| bytes[i..].starts_with(p.as_bytes()))
            && bytes[i + 4..i + ID_LEN].iter().all(|b| id_char(*b))
        {
            // `i` and `i + 4` are character boundaries: the bytes there are ASCII.
            out.push_str(&text[copied..i + 4]);
            out.push_str("***");
            copied = i + ID_LEN;
            i += ID_LEN;
        } else {
            i += 1;
        }
    }
    out.push_str(&text[copied..]);
    out
}

/// A writer that redacts what goes through it. tracing-subscriber's formatter writes each
/// event with one `write_all` of the whole line, so a secret is never split across writes.
pub struct Redacting<W: Write>(pub W);

impl<W: Write> Write for Redacting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        self.0.write_all(redact(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_secrets_and_key_ids_never_pass() {
        add("planted-secret/KEY+value");
        add("abc"); // too short to redact
        let line = "creds: AKIAPLANTEDKEYID0001 secret=planted-secret/KEY+value abc ASIA1234567890ABCDEF; AKIANOTANID ok";
        assert_eq!(
            redact(line),
            "creds: AKIA*** secret=*** abc ASIA***; AKIANOTANID ok"
        );
        let mut buf = Vec::new();
        Redacting(&mut buf)
            .write_all(b"Credentials { access_key_id: \"AKIAPLANTEDKEYID0001\" }\n")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            String::from_utf8_lossy(&buf),
            "Credentials { access_key_id: \"AKIA***\" }\n"
        );
        // Non-ASCII text around an id stays intact.
        assert_eq!(redact("→AKIAPLANTEDKEYID0001→"), "→AKIA***→");
    }
}
