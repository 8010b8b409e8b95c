//! Text in and out of a model directory: `tokenizer.json` (the tokenizers crate, so ids
//! match Hugging Face exactly) and the chat template of `tokenizer_config.json`, which is
//! Jinja and is rendered here with minijinja the way transformers' `apply_chat_template`
//! renders it (`messages`, `add_generation_prompt`, `bos_token`, `eos_token`,
//! `raise_exception`, Python string methods).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tokenizers::Tokenizer;

use crate::{ModelError, Result};

/// One chat message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// The text.
    pub content: String,
}

/// A model directory's tokenizer and chat template.
pub struct TextTokenizer {
    tokenizer: Tokenizer,
    path: PathBuf,
    chat_template: Option<String>,
    bos_token: Option<String>,
    eos_token: Option<String>,
    /// Extra variables of the chat template (`enable_thinking`, ...).
    template_kwargs: serde_json::Map<String, serde_json::Value>,
}

/// A token in tokenizer_config.json: a string, or an object with `content`.
fn token_text(v: Option<&serde_json::Value>) -> Option<String> {
    match v? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Object(o) => o.get("content")?.as_str().map(str::to_string),
        _ => None,
    }
}

impl TextTokenizer {
    /// Loads `dir/tokenizer.json` and, when present, `dir/tokenizer_config.json`; or, when
    /// `dir` is a `.gguf` file, the tokenizer its metadata describes
    /// ([`crate::gguf::tokenizer_files`]).
    pub fn load(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        if crate::gguf::is_gguf(dir) {
            let file = crate::gguf::GgufFile::open(dir)?;
            let (tokenizer, config) = crate::gguf::tokenizer_files(&file)?;
            let tokenizer: Tokenizer =
                tokenizer
                    .to_string()
                    .parse()
                    .map_err(|e| ModelError::Tokenizer {
                        path: dir.to_path_buf(),
                        reason: format!(
                            "the tokenizer rebuilt from the metadata does not load: {e}"
                        ),
                    })?;
            return Ok(Self::new(tokenizer, dir.to_path_buf(), &config, None));
        }
        let path = dir.join("tokenizer.json");
        if !path.is_file() {
            return Err(ModelError::Tokenizer {
                path,
                reason: "not found\nhint: a model directory needs the tokenizer.json it was trained with".into(),
            });
        }
        let tokenizer = Tokenizer::from_file(&path).map_err(|e| ModelError::Tokenizer {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let config_path = dir.join("tokenizer_config.json");
        let config: serde_json::Value = match std::fs::read(&config_path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| ModelError::Json {
                path: config_path.clone(),
                source,
            })?,
            Err(_) => serde_json::Value::Null,
        };
        // A standalone chat_template.jinja (newer transformers) wins over the config's.
        let template = std::fs::read_to_string(dir.join("chat_template.jinja")).ok();
        Ok(Self::new(tokenizer, path, &config, template))
    }

    /// A tokenizer with the chat template and special tokens of `config` (the contents of
    /// `tokenizer_config.json`), unless `chat_template` overrides the template.
    fn new(
        tokenizer: Tokenizer,
        path: PathBuf,
        config: &serde_json::Value,
        chat_template: Option<String>,
    ) -> Self {
        let chat_template = chat_template.or_else(|| {
            config
                .get("chat_template")
                .and_then(|t| t.as_str())
                .map(str::to_string)
        });
        TextTokenizer {
            tokenizer,
            path,
            chat_template,
            bos_token: token_text(config.get("bos_token")),
            eos_token: token_text(config.get("eos_token")),
            template_kwargs: serde_json::Map::new(),
        }
    }

    /// Replaces the chat template (a model's own comes from `tokenizer_config.json` or the GGUF
    /// metadata).
    pub fn set_chat_template(&mut self, template: impl Into<String>) {
        self.chat_template = Some(template.into());
    }

    /// Extra variables for the chat template, as transformers' `apply_chat_template(**kwargs)`
    /// passes them (`enable_thinking = false` for Qwen3); the named ones
    /// (`messages`, `add_generation_prompt`, `bos_token`, `eos_token`) win over these.
    pub fn set_chat_template_kwargs(&mut self, kwargs: serde_json::Map<String, serde_json::Value>) {
        self.template_kwargs = kwargs;
    }

    fn err(&self, e: impl std::fmt::Display) -> ModelError {
        ModelError::Tokenizer {
            path: self.path.clone(),
            reason: e.to_string(),
        }
    }

    /// Token ids of `text`; `special` adds what the tokenizer's post-processor adds (BOS).
    pub fn encode(&self, text: &str, special: bool) -> Result<Vec<u32>> {
        Ok(self
            .tokenizer
            .encode(text, special)
            .map_err(|e| self.err(e))?
            .get_ids()
            .to_vec())
    }

    /// Text of `ids`, special tokens left out.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.tokenizer.decode(ids, true).map_err(|e| self.err(e))
    }

    /// Id of a token given by its text, such as `</s>`.
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.tokenizer.token_to_id(token)
    }

    /// Id of the end-of-sequence token named in `tokenizer_config.json`, if any.
    pub fn eos_id(&self) -> Option<u32> {
        self.eos_token.as_deref().and_then(|t| self.token_id(t))
    }

    /// Whether the model ships a chat template.
    pub fn has_chat_template(&self) -> bool {
        self.chat_template.is_some()
    }

    /// Renders `messages` with the chat template, as transformers' `apply_chat_template`
    /// with `tokenize=False` does. The result already holds the template's special tokens,
    /// so encode it with `special = false`.
    pub fn apply_chat_template(
        &self,
        messages: &[ChatMessage],
        add_generation_prompt: bool,
    ) -> Result<String> {
        let template = self.chat_template.as_deref().ok_or_else(|| {
            self.err("the model has no chat template\nhint: drop --chat, or add chat_template to tokenizer_config.json")
        })?;
        let mut env = minijinja::Environment::new();
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function(
            "raise_exception",
            |msg: String| -> std::result::Result<String, minijinja::Error> {
                Err(minijinja::Error::new(
                    minijinja::ErrorKind::InvalidOperation,
                    msg,
                ))
            },
        );
        env.add_template("chat", template)
            .map_err(|e| self.err(format!("chat template: {e}")))?;
        let tmpl = env
            .get_template("chat")
            .map_err(|e| self.err(format!("chat template: {e}")))?;
        tmpl.render(minijinja::context! {
            messages => messages,
            add_generation_prompt => add_generation_prompt,
            bos_token => self.bos_token.clone().unwrap_or_default(),
            eos_token => self.eos_token.clone().unwrap_or_default(),
            ..minijinja::Value::from_serialize(&self.template_kwargs)
        })
        .map_err(|e| self.err(format!("chat template: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/tiny-llama/model")
    }

    #[test]
    fn encodes_the_fixture_samples_like_transformers() {
        let tok = TextTokenizer::load(fixture()).unwrap();
        let expected: serde_json::Value =
            serde_json::from_slice(&std::fs::read(fixture().join("../expected.json")).unwrap())
                .unwrap();
        for (text, ids) in expected["samples"]
            .as_array()
            .unwrap()
            .iter()
            .zip(expected["input_ids"].as_array().unwrap())
        {
            let want: Vec<u32> = ids
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap() as u32)
                .collect();
            let got = tok.encode(text.as_str().unwrap(), true).unwrap();
            assert_eq!(got, want, "{text}");
            assert_eq!(
                tok.decode(&got).unwrap().trim(),
                text.as_str().unwrap().trim()
            );
        }
    }

    #[test]
    fn a_qwen3_style_thinking_switch_renders_and_follows_the_kwargs() {
        // The constructs Qwen3's template relies on (a namespace scanned backwards, slices,
        // string methods, `is defined` / `is false` on a caller's variable), written here.
        let template = r#"{%- set ns = namespace(last_user=messages|length - 1) %}
{%- for m in messages[::-1] %}{%- if m.role == "user" and ns.last_user == messages|length - 1 %}{%- set ns.last_user = (messages|length - 1) - loop.index0 %}{%- endif %}{%- endfor %}
{%- for m in messages %}<|im_start|>{{ m.role }}
{%- if m.role == "assistant" and "</think>" in m.content %}{{ "\n" + m.content.split("</think>")[-1].lstrip("\n") }}{%- else %}{{ "\n" + m.content }}{%- endif %}<|im_end|>
{% endfor %}
{%- if add_generation_prompt %}<|im_start|>assistant
{%- if enable_thinking is defined and enable_thinking is false %}{{ "\n<think>\n\n</think>\n\n" }}{%- endif %}{%- endif %}"#;
        let mut tok = TextTokenizer::load(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../fixtures/tiny-llama/model"
        ))
        .unwrap();
        tok.set_chat_template(template);
        let messages = [
            ChatMessage {
                role: "user".into(),
                content: "2+2?".into(),
            },
            ChatMessage {
                role: "assistant".into(),
                content: "<think>\nadd\n</think>\n\n4".into(),
            },
            ChatMessage {
                role: "user".into(),
                content: "3+3?".into(),
            },
        ];
        let thinking = tok.apply_chat_template(&messages, true).unwrap();
        assert!(thinking.ends_with("<|im_start|>assistant"), "{thinking}");
        assert!(
            thinking.contains("<|im_start|>assistant\n4<|im_end|>"),
            "{thinking}"
        );
        let mut off = serde_json::Map::new();
        off.insert("enable_thinking".into(), serde_json::json!(false));
        tok.set_chat_template_kwargs(off);
        let quiet = tok.apply_chat_template(&messages, true).unwrap();
        assert_eq!(quiet, format!("{thinking}\n<think>\n\n</think>\n\n"));
    }

    #[test]
    fn renders_a_llama3_style_template_with_python_methods() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(
            fixture().join("tokenizer.json"),
            dir.path().join("tokenizer.json"),
        )
        .unwrap();
        let template = "{{ bos_token }}{% for m in messages %}{% if m.role not in ['system', 'user', 'assistant'] %}{{ raise_exception('bad role') }}{% endif %}<|{{ m.role }}|>{{ m.content.strip() }}<|end|>{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}";
        std::fs::write(
            dir.path().join("tokenizer_config.json"),
            serde_json::json!({"chat_template": template, "bos_token": {"content": "<s>"}, "eos_token": "</s>"}).to_string(),
        )
        .unwrap();
        let tok = TextTokenizer::load(dir.path()).unwrap();
        let msgs = vec![
            ChatMessage {
                role: "system".into(),
                content: "Be brief. ".into(),
            },
            ChatMessage {
                role: "user".into(),
                content: "Hi".into(),
            },
        ];
        assert_eq!(
            tok.apply_chat_template(&msgs, true).unwrap(),
            "<s><|system|>Be brief.<|end|><|user|>Hi<|end|><|assistant|>"
        );
        let bad = vec![ChatMessage {
            role: "tool".into(),
            content: "x".into(),
        }];
        assert!(
            tok.apply_chat_template(&bad, false)
                .unwrap_err()
                .to_string()
                .contains("bad role")
        );
    }

    #[test]
    fn no_template_is_a_clear_error() {
        let tok = TextTokenizer::load(fixture()).unwrap();
        assert!(!tok.has_chat_template());
        let err = tok.apply_chat_template(&[], true).unwrap_err().to_string();
        assert!(err.contains("no chat template"), "{err}");
    }
}
