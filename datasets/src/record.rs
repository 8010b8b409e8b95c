//! The unit every preparation step works on: one training example, in one of three shapes.
//!
//! Column mapping turns a source row into a [`Record`]; cleaning, PII redaction,
//! de-duplication and splitting all work on records; the target writers render them into
//! the JSONL line each target expects.

use std::collections::BTreeMap;

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
    /// Reinforcement fine-tuning: a conversation the model answers (it ends with the user's
    /// turn) and what the grader compares the model's answer with.
    Prompt {
        /// System prompt, if any.
        system: Option<String>,
        /// Turns in order; validation checks that they alternate, user first, user last.
        turns: Vec<Turn>,
        /// What the grader compares the answer with (the line's `reference_answer`).
        reference_answer: String,
        /// Further fields the grader reads, by name (written beside `reference_answer`).
        fields: BTreeMap<String, String>,
    },
}

impl Record {
    /// Every text field, in a fixed order (used for hashing, cleaning and scanning): a
    /// conversation's system prompt and turns, then an RFT prompt's reference answer and
    /// grader fields.
    pub fn texts(&self) -> Vec<&str> {
        match self {
            Record::Completion { prompt, completion } => vec![prompt, completion],
            Record::Text { text } => vec![text],
            Record::Chat { system, turns } => conversation(system, turns).collect(),
            Record::Prompt {
                system,
                turns,
                reference_answer,
                fields,
            } => conversation(system, turns)
                .chain([reference_answer.as_str()])
                .chain(fields.values().map(String::as_str))
                .collect(),
        }
    }

    /// Every text field, mutably, in the same order as [`Record::texts`].
    pub fn texts_mut(&mut self) -> Vec<&mut String> {
        match self {
            Record::Completion { prompt, completion } => vec![prompt, completion],
            Record::Text { text } => vec![text],
            Record::Chat { system, turns } => conversation_mut(system, turns).collect(),
            Record::Prompt {
                system,
                turns,
                reference_answer,
                fields,
            } => conversation_mut(system, turns)
                .chain([reference_answer])
                .chain(fields.values_mut())
                .collect(),
        }
    }
}

/// A conversation's texts: the system prompt, if any, then every turn.
fn conversation<'a>(
    system: &'a Option<String>,
    turns: &'a [Turn],
) -> impl Iterator<Item = &'a str> {
    system
        .iter()
        .map(String::as_str)
        .chain(turns.iter().map(|t| t.content.as_str()))
}

/// [`conversation`], mutably.
fn conversation_mut<'a>(
    system: &'a mut Option<String>,
    turns: &'a mut [Turn],
) -> impl Iterator<Item = &'a mut String> {
    system
        .iter_mut()
        .chain(turns.iter_mut().map(|t| &mut t.content))
}
