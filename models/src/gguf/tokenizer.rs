//! The tokenizer of a GGUF file, rebuilt from `tokenizer.ggml.*` as the `tokenizer.json` and
//! `tokenizer_config.json` of an HF folder.
//!
//! GPT-2-style byte-level BPE (`tokenizer.ggml.model` = `gpt2`): the vocabulary and merges are
//! stored in byte-level spelling already, and `tokenizer.ggml.pre` names the split llama.cpp
//! applies before BPE (`llama-vocab.cpp`, `llm_tokenizer_bpe`); the table in [`pre_tokenizer`]
//! gives the equivalent `tokenizers` pre-tokenizer for the names it knows. Tokens marked
//! control (`token_type` 3) become special added tokens and user-defined ones (4) plain added
//! tokens, as transformers' GGUF loader does; `add_bos_token` becomes a post-processor.
//!
//! Not implemented: SentencePiece-style vocabularies (`tokenizer.ggml.model` = `llama`, Llama 2
//! and Mistral files), which are refused with an error naming the key.

use std::path::Path;

use serde_json::{Value as Json, json};

use super::file::{GgufFile, Value};
use crate::error::{ModelError, Result};
use crate::weights::write_atomic;

/// `tokenizer.ggml.pre` names and the regex llama.cpp splits with before byte-level BPE
/// (`None`: the GPT-2 split of `ByteLevel` itself).
const LLAMA3_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const QWEN2_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// Pre-tokenizer names this module knows, for the error about the others.
const KNOWN_PRE: [&str; 14] = [
    "default",
    "gpt-2",
    "smollm",
    "starcoder",
    "refact",
    "command-r",
    "codeshell",
    "llama3",
    "llama-v3",
    "llama-bpe",
    "smaug-bpe",
    "falcon3",
    "qwen2",
    "deepseek-r1-qwen",
];

/// The `tokenizers` pre-tokenizer for llama.cpp's pre-tokenizer `pre`.
fn pre_tokenizer(pre: &str) -> Option<Json> {
    let byte_level = |use_regex: bool| json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": use_regex});
    let split = |regex: &str| {
        json!({"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": regex}, "behavior": "Isolated", "invert": false},
            byte_level(false),
        ]})
    };
    Some(match pre {
        "default" | "gpt-2" => byte_level(true),
        // llama.cpp splits `\p{N}` off one by one, then applies the GPT-2 regex: what the
        // `Digits` + `ByteLevel` pre-tokenizer of SmolLM's and StarCoder's tokenizer.json does.
        "smollm" | "starcoder" | "refact" | "command-r" | "codeshell" => {
            json!({"type": "Sequence", "pretokenizers": [
                {"type": "Digits", "individual_digits": true},
                byte_level(true),
            ]})
        }
        "llama3" | "llama-v3" | "llama-bpe" | "smaug-bpe" | "falcon3" => split(LLAMA3_SPLIT),
        "qwen2" | "deepseek-r1-qwen" => split(QWEN2_SPLIT),
        _ => return None,
    })
}

/// The characters of GPT-2's byte-to-unicode table (`bytes_to_unicode`): printable Latin-1
/// maps to itself, the other 68 bytes to U+0100..U+0143.
fn in_byte_alphabet(c: char) -> bool {
    matches!(c, '!'..='~' | '¡'..='¬' | '®'..='ÿ' | '\u{100}'..='\u{143}')
}

/// `tokenizer.json` and `tokenizer_config.json` for the file's tokenizer.
pub fn tokenizer_files(file: &GgufFile) -> Result<(Json, Json)> {
    let model = file.require("tokenizer.ggml.model", "a string", |v| {
        v.as_str().map(str::to_string)
    })?;
    if model != "gpt2" {
        return Err(file.error(format!(
            "metadata `tokenizer.ggml.model`: tokenizer model `{model}` is not supported (only `gpt2`, byte-level BPE){}",
            match model.as_str() {
                "llama" => "\nhint: SentencePiece-style GGUF vocabularies are not rebuilt yet; load the model's HF folder instead",
                _ => "",
            }
        )));
    }
    let pre_name = file
        .optional("tokenizer.ggml.pre", "a string", |v| {
            v.as_str().map(str::to_string)
        })?
        .unwrap_or_else(|| "default".to_string());
    let pre = pre_tokenizer(&pre_name).ok_or_else(|| {
        file.error(format!(
            "metadata `tokenizer.ggml.pre`: pre-tokenizer `{pre_name}` is not supported\nhint: supported: {}",
            KNOWN_PRE.join(", ")
        ))
    })?;
    let tokens = file.strings("tokenizer.ggml.tokens")?;
    let merges = file.strings("tokenizer.ggml.merges")?;
    let types: Vec<i64> = match file.get("tokenizer.ggml.token_type") {
        None => vec![1; tokens.len()],
        Some(_) => file.require("tokenizer.ggml.token_type", "an array of integers", |v| {
            v.as_array()?.iter().map(Value::as_i64).collect()
        })?,
    };
    if types.len() != tokens.len() {
        return Err(file.error(format!(
            "metadata `tokenizer.ggml.token_type`: {} entries for {} tokens",
            types.len(),
            tokens.len()
        )));
    }
    let vocab: serde_json::Map<String, Json> = tokens
        .iter()
        .enumerate()
        .map(|(id, t)| (t.to_string(), json!(id)))
        .collect();
    let added: Vec<Json> = tokens
        .iter()
        .zip(&types)
        .enumerate()
        // 3 = control (special), 4 = user-defined; a control token outside the byte alphabet
        // is a llama.cpp mislabel that transformers skips too.
        .filter(|(_, (t, ty))| match ty {
            3 => t.chars().all(in_byte_alphabet),
            4 => true,
            _ => false,
        })
        .map(|(id, (t, ty))| {
            json!({"id": id, "content": t, "single_word": false, "lstrip": false, "rstrip": false,
                   "normalized": false, "special": *ty == 3})
        })
        .collect();
    let token_of = |key: &str| -> Result<Option<String>> {
        let id = file.optional(key, "a token id", Value::as_u64)?;
        id.map(|id| {
            tokens
                .get(id as usize)
                .map(|t| t.to_string())
                .ok_or_else(|| {
                    file.error(format!(
                        "metadata `{key}`: id {id} is outside the vocabulary of {}",
                        tokens.len()
                    ))
                })
        })
        .transpose()
    };
    let bos = token_of("tokenizer.ggml.bos_token_id")?;
    let eos = token_of("tokenizer.ggml.eos_token_id")?;
    let pad = token_of("tokenizer.ggml.padding_token_id")?;
    let unk = token_of("tokenizer.ggml.unknown_token_id")?;
    let add_bos = file
        .optional("tokenizer.ggml.add_bos_token", "a bool", Value::as_bool)?
        .unwrap_or(false);
    let add_eos = file
        .optional("tokenizer.ggml.add_eos_token", "a bool", Value::as_bool)?
        .unwrap_or(false);
    let required = |on: bool, token: &Option<String>, key: &str| -> Result<Option<String>> {
        match (on, token) {
            (false, _) => Ok(None),
            (true, Some(t)) => Ok(Some(t.clone())),
            (true, None) => Err(file.error(format!(
                "metadata `{key}` is missing, but the file asks to add that token"
            ))),
        }
    };
    let added_bos = required(add_bos, &bos, "tokenizer.ggml.bos_token_id")?;
    let added_eos = required(add_eos, &eos, "tokenizer.ggml.eos_token_id")?;
    let post_processor = match (&added_bos, &added_eos) {
        (None, None) => {
            json!({"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true})
        }
        _ => {
            // `<bos>? $A <eos>?`, and the same again for the second sequence of a pair.
            let sequence = |id: &str, type_id: u32| {
                let mut pieces = Vec::new();
                if let Some(t) = &added_bos {
                    pieces.push(json!({"SpecialToken": {"id": t, "type_id": type_id}}));
                }
                pieces.push(json!({"Sequence": {"id": id, "type_id": type_id}}));
                if let Some(t) = &added_eos {
                    pieces.push(json!({"SpecialToken": {"id": t, "type_id": type_id}}));
                }
                pieces
            };
            let special: serde_json::Map<String, Json> = [&added_bos, &added_eos]
                .into_iter()
                .flatten()
                .map(|t| {
                    (
                        t.clone(),
                        json!({"id": t, "ids": [vocab[t.as_str()]], "tokens": [t]}),
                    )
                })
                .collect();
            let mut pair = sequence("A", 0);
            pair.extend(sequence("B", 1));
            json!({"type": "TemplateProcessing", "single": sequence("A", 0), "pair": pair, "special_tokens": special})
        }
    };
    let tokenizer = json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": null,
        "pre_tokenizer": pre,
        "post_processor": post_processor,
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
        "model": {
            "type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
            "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false,
            "ignore_merges": false, "vocab": vocab, "merges": merges,
        },
    });
    let mut config = serde_json::Map::new();
    config.insert("tokenizer_class".into(), json!("GPT2Tokenizer"));
    config.insert("add_bos_token".into(), json!(add_bos));
    config.insert("add_eos_token".into(), json!(add_eos));
    for (key, token) in [
        ("bos_token", bos),
        ("eos_token", eos),
        ("pad_token", pad),
        ("unk_token", unk),
    ] {
        if let Some(t) = token {
            config.insert(key.into(), json!(t));
        }
    }
    if let Some(template) = file.optional("tokenizer.chat_template", "a string", |v| {
        v.as_str().map(str::to_string)
    })? {
        config.insert("chat_template".into(), json!(template));
    }
    Ok((tokenizer, Json::Object(config)))
}

/// Writes the [`tokenizer_files`] pair into `dir` as `tokenizer.json` and
/// `tokenizer_config.json` (atomically, each).
pub fn write_tokenizer_files((tokenizer, config): &(Json, Json), dir: &Path) -> Result<()> {
    for (name, value) in [
        ("tokenizer.json", tokenizer),
        ("tokenizer_config.json", config),
    ] {
        let bytes = serde_json::to_vec_pretty(value)
            .map_err(|e| ModelError::InvalidInput(format!("{name}: {e}")))?;
        write_atomic(&dir.join(name), &bytes)?;
    }
    Ok(())
}
