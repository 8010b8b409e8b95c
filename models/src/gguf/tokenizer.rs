//! The tokenizer of a GGUF file, rebuilt from `tokenizer.ggml.*` as the `tokenizer.json` and
//! `tokenizer_config.json` of an HF folder.
//!
//! Two vocabularies (`tokenizer.ggml.model`):
//!
//! - `gpt2`, byte-level BPE (SmolLM, Llama 3, Qwen2): the vocabulary and merges are stored in
//!   byte-level spelling already, and `tokenizer.ggml.pre` names the split llama.cpp applies
//!   before BPE (`llama-vocab.cpp`, `llm_tokenizer_bpe`); [`pre_tokenizer`] gives the equivalent
//!   `tokenizers` pre-tokenizer for the names it knows.
//! - `llama`, SentencePiece BPE (Llama 2, Mistral): tokens with scores and byte-fallback tokens
//!   (`<0x41>`), no merges; the merges are rebuilt from the scores as transformers'
//!   `generate_merges` does, and text is normalised as Llama 2's own `tokenizer.json` does
//!   (a `▁` prepended when `tokenizer.ggml.add_space_prefix`, spaces replaced by `▁`), which is
//!   what sentencepiece and llama.cpp compute, also on text that starts with a space.
//!
//! Tokens marked control (`token_type` 3) become special added tokens and user-defined ones (4)
//! plain added tokens, as transformers' GGUF loader does; `add_bos_token` / `add_eos_token`
//! become a post-processor.

use std::path::Path;

use serde_json::{Value as Json, json};

use super::file::{GgufFile, Value};
use crate::error::{ModelError, Result};
use crate::weights::write_atomic;

/// How llama.cpp splits text before byte-level BPE (`llama-vocab.cpp`, the regexes of
/// `llm_tokenizer_bpe`).
enum Split {
    /// The GPT-2 regex, which `ByteLevel` applies itself.
    Gpt2,
    /// Every `\p{N}` alone, then the GPT-2 regex: the `Digits` + `ByteLevel` pre-tokenizer of
    /// SmolLM's and StarCoder's own tokenizer.json.
    DigitsThenGpt2,
    /// One regex, its matches kept as pieces.
    Regex(&'static str),
}

const LLAMA3_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const QWEN2_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// `tokenizer.ggml.pre` names this module knows, and their split.
const PRE_TOKENIZERS: [(&[&str], Split); 4] = [
    (&["default", "gpt-2"], Split::Gpt2),
    (
        &["smollm", "starcoder", "refact", "command-r", "codeshell"],
        Split::DigitsThenGpt2,
    ),
    (
        &["llama3", "llama-v3", "llama-bpe", "smaug-bpe", "falcon3"],
        Split::Regex(LLAMA3_SPLIT),
    ),
    (&["qwen2", "deepseek-r1-qwen"], Split::Regex(QWEN2_SPLIT)),
];

/// The `tokenizers` pre-tokenizer for llama.cpp's pre-tokenizer `pre`.
fn pre_tokenizer(pre: &str) -> Option<Json> {
    let (_, split) = PRE_TOKENIZERS
        .iter()
        .find(|(names, _)| names.contains(&pre))?;
    let byte_level = |use_regex: bool| json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": use_regex});
    Some(match split {
        Split::Gpt2 => byte_level(true),
        Split::DigitsThenGpt2 => json!({"type": "Sequence", "pretokenizers": [
            {"type": "Digits", "individual_digits": true},
            byte_level(true),
        ]}),
        Split::Regex(regex) => json!({"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": regex}, "behavior": "Isolated", "invert": false},
            byte_level(false),
        ]}),
    })
}

/// The characters of GPT-2's byte-to-unicode table (`bytes_to_unicode`): printable Latin-1
/// maps to itself, the other 68 bytes to U+0100..U+0143.
fn in_byte_alphabet(c: char) -> bool {
    matches!(c, '!'..='~' | '¡'..='¬' | '®'..='ÿ' | '\u{100}'..='\u{143}')
}

/// The parts of `tokenizer.json` that differ between the two vocabularies.
struct Vocabulary {
    model: Json,
    normalizer: Json,
    pre_tokenizer: Json,
    decoder: Json,
    /// Whether a control token is added as a special token (byte-level vocabularies skip the
    /// ones outside the byte alphabet).
    keep_control: fn(&str) -> bool,
    /// `add_bos_token` when the file does not say.
    add_bos_default: bool,
}

/// `tokenizer.ggml.model` = `gpt2`.
fn byte_level_bpe(file: &GgufFile, vocab: &serde_json::Map<String, Json>) -> Result<Vocabulary> {
    let pre_name = file
        .optional("tokenizer.ggml.pre", "a string", |v| {
            v.as_str().map(str::to_string)
        })?
        .unwrap_or_else(|| "default".to_string());
    let pre = pre_tokenizer(&pre_name).ok_or_else(|| {
        file.error(format!(
            "metadata `tokenizer.ggml.pre`: pre-tokenizer `{pre_name}` is not supported\nhint: supported: {}",
            PRE_TOKENIZERS
                .iter()
                .flat_map(|(names, _)| names.iter().copied())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })?;
    let merges = file.strings("tokenizer.ggml.merges")?;
    Ok(Vocabulary {
        model: json!({
            "type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
            "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false,
            "ignore_merges": false, "vocab": vocab, "merges": merges,
        }),
        normalizer: Json::Null,
        pre_tokenizer: pre,
        decoder: json!({"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true}),
        keep_control: |t| t.chars().all(in_byte_alphabet),
        add_bos_default: false,
    })
}

/// `tokenizer.ggml.model` = `llama`.
fn sentencepiece_bpe(
    file: &GgufFile,
    tokens: &[&str],
    vocab: &serde_json::Map<String, Json>,
    unk: Option<&str>,
) -> Result<Vocabulary> {
    let scores: Vec<f64> = file.require("tokenizer.ggml.scores", "an array of floats", |v| {
        v.as_array()?.iter().map(Value::as_f64).collect()
    })?;
    if scores.len() != tokens.len() {
        return Err(file.error(format!(
            "metadata `tokenizer.ggml.scores`: {} entries for {} tokens",
            scores.len(),
            tokens.len()
        )));
    }
    let prefix = file
        .optional("tokenizer.ggml.add_space_prefix", "a bool", Value::as_bool)?
        .unwrap_or(true);
    let replace = json!({"type": "Replace", "pattern": {"String": " "}, "content": "\u{2581}"});
    let normalizer = match prefix {
        true => {
            json!({"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "\u{2581}"}, replace]})
        }
        false => replace,
    };
    let mut decoders = vec![
        json!({"type": "Replace", "pattern": {"String": "\u{2581}"}, "content": " "}),
        json!({"type": "ByteFallback"}),
        json!({"type": "Fuse"}),
    ];
    if prefix {
        decoders.push(json!({"type": "Strip", "content": " ", "start": 1, "stop": 0}));
    }
    Ok(Vocabulary {
        model: json!({
            "type": "BPE", "dropout": null, "unk_token": unk, "continuing_subword_prefix": null,
            "end_of_word_suffix": null, "fuse_unk": true, "byte_fallback": true,
            "ignore_merges": false, "vocab": vocab, "merges": merges_from_scores(tokens, &scores),
        }),
        normalizer,
        pre_tokenizer: Json::Null,
        decoder: json!({"type": "Sequence", "decoders": decoders}),
        keep_control: |_| true,
        // llama.cpp adds BOS to a SentencePiece vocabulary that does not say otherwise.
        add_bos_default: true,
    })
}

/// BPE merges implied by a SentencePiece vocabulary (transformers' `generate_merges` with
/// scores): every split of a token into two tokens is a merge ranked by the whole token's
/// score, highest first, ties by the lengths of the two parts (longer first) and then in
/// vocabulary order.
fn merges_from_scores(tokens: &[&str], scores: &[f64]) -> Vec<[String; 2]> {
    let ids: std::collections::HashMap<&str, usize> =
        tokens.iter().enumerate().map(|(i, t)| (*t, i)).collect();
    let mut merges: Vec<(f64, usize, usize, &str, &str)> = Vec::new();
    for (token, &score) in tokens.iter().zip(scores) {
        let mut local: Vec<(usize, usize, &str, &str)> = token
            .char_indices()
            .skip(1)
            .filter_map(|(at, _)| {
                let (l, r) = token.split_at(at);
                Some((*ids.get(l)?, *ids.get(r)?, l, r))
            })
            .collect();
        local.sort_by_key(|&(il, ir, _, _)| (il, ir));
        merges.extend(
            local
                .into_iter()
                .map(|(_, _, l, r)| (score, l.chars().count(), r.chars().count(), l, r)),
        );
    }
    // Python's stable `sorted(..., reverse=True)`: equal keys keep their order.
    merges.sort_by(|a, b| {
        (b.0, b.1, b.2)
            .partial_cmp(&(a.0, a.1, a.2))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    merges
        .into_iter()
        .map(|(_, _, _, l, r)| [l.to_string(), r.to_string()])
        .collect()
}

/// `tokenizer.json` and `tokenizer_config.json` for the file's tokenizer.
pub fn tokenizer_files(file: &GgufFile) -> Result<(Json, Json)> {
    let model = file.require("tokenizer.ggml.model", "a string", |v| {
        v.as_str().map(str::to_string)
    })?;
    let tokens = file.strings("tokenizer.ggml.tokens")?;
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
    let v = match model.as_str() {
        "gpt2" => byte_level_bpe(file, &vocab)?,
        "llama" => sentencepiece_bpe(file, &tokens, &vocab, unk.as_deref())?,
        _ => {
            return Err(file.error(format!(
                "metadata `tokenizer.ggml.model`: tokenizer model `{model}` is not supported (`gpt2`, byte-level BPE, and `llama`, SentencePiece BPE, are)"
            )));
        }
    };
    let added: Vec<Json> = tokens
        .iter()
        .zip(&types)
        .enumerate()
        // 3 = control (special), 4 = user-defined (plain added token).
        .filter(|(_, (t, ty))| match ty {
            3 => (v.keep_control)(t),
            4 => true,
            _ => false,
        })
        .map(|(id, (t, ty))| {
            json!({"id": id, "content": t, "single_word": false, "lstrip": false, "rstrip": false,
                   "normalized": false, "special": *ty == 3})
        })
        .collect();
    let add_bos = file
        .optional("tokenizer.ggml.add_bos_token", "a bool", Value::as_bool)?
        .unwrap_or(v.add_bos_default);
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
    // `<bos>? $A <eos>?`, and the same again for the second sequence of a pair (transformers'
    // `update_post_processor`).
    let sequence = |id: &str, type_id: u32| {
        let special = |t: &String| json!({"SpecialToken": {"id": t, "type_id": type_id}});
        let mut pieces: Vec<Json> = added_bos.iter().map(special).collect();
        pieces.push(json!({"Sequence": {"id": id, "type_id": type_id}}));
        pieces.extend(added_eos.iter().map(special));
        pieces
    };
    let special: serde_json::Map<String, Json> = [&added_bos, &added_eos]
        .into_iter()
        .flatten()
        .map(|t| {
            let ids = [&vocab[t.as_str()]];
            (t.clone(), json!({"id": t, "ids": ids, "tokens": [t]}))
        })
        .collect();
    let mut pair = sequence("A", 0);
    pair.extend(sequence("B", 1));
    let post_processor = json!({"type": "TemplateProcessing", "single": sequence("A", 0), "pair": pair, "special_tokens": special});
    let tokenizer = json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": v.normalizer,
        "pre_tokenizer": v.pre_tokenizer,
        "post_processor": post_processor,
        "decoder": v.decoder,
        "model": v.model,
    });
    let mut config = serde_json::Map::new();
    // transformers then takes tokenizer.json as it is; `LlamaTokenizer` would rebuild the
    // pipeline and lose the leading "▁" sentencepiece puts before text starting with a space.
    config.insert("tokenizer_class".into(), json!("PreTrainedTokenizerFast"));
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
