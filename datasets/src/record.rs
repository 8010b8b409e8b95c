//! The unit every preparation step works on: one training example, in one of three shapes.
//!
//! Column mapping turns a source row into a [`Record`]; cleaning, PII redaction,
//! de-duplication and splitting all work on records; the target writers render them into
//! the JSONL line each target expects.

use serde::{Deserialize, Serialize};

/// Who speaks a chat turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The end user.
    User,
    /// The model being trained.
    Assistant,
}

/// One turn of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Turn {
    /// Who speaks.
    pub role: Role,
    /// What is said.
    pub content: String,
}

/// One training example.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Record {
    /// Instruction tuning: the model learns to produce `completion` after `prompt`.
    Completion {
        /// Model input.
        prompt: String,
        /// Expected output.
        completion: String,
    },
    /// Conversation: an optional system prompt, then user/assistant turns.
    Chat {
        /// System prompt, if any.
        system: Option<String>,
        /// Turns in order; validation checks that they alternate, user first, assistant last.
        turns: Vec<Turn>,
    },
    /// Raw text for continued pre-training.
    Text {
        /// The document.
        text: String,
    },
}

impl Record {
    /// Every text field, in a fixed order (used for hashing, cleaning and scanning).
    pub fn texts(&self) -> Vec<&str> {
        match self {
            Record::Completion { prompt, completion } => vec![prompt, completion],
            Record::Chat { system, turns } => system
                .iter()
                .map(String::as_str)
                .chain(turns.iter().map(|t| t.content.as_str()))
                .collect(),
            Record::Text { text } => vec![text],
        }
    }

    /// Every text field, mutably, in the same order as [`Record::texts`].
    pub fn texts_mut(&mut self) -> Vec<&mut String> {
        match self {
            Record::Completion { prompt, completion } => vec![prompt, completion],
            Record::Chat { system, turns } => system
                .iter_mut()
                .chain(turns.iter_mut().map(|t| &mut t.content))
                .collect(),
            Record::Text { text } => vec![text],
        }
    }

    /// The text the model sees as input (the prompt, or the conversation up to the last
    /// assistant turn); empty for raw text.
    pub fn input_text(&self) -> String {
        match self {
            Record::Completion { prompt, .. } => prompt.clone(),
            Record::Chat { system, turns } => {
                let upto = turns.len().saturating_sub(1);
                system
                    .iter()
                    .map(String::as_str)
                    .chain(turns[..upto].iter().map(|t| t.content.as_str()))
                    .collect::<Vec<_>>()
                    .join("\n")
            }
            Record::Text { .. } => String::new(),
        }
    }
}
