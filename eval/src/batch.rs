//! Amazon Bedrock batch inference records for the `Converse` invocation type: the input JSONL
//! a job reads (`{"recordId", "modelInput"}`, `modelInput` being a Converse request body) and
//! the `.jsonl.out` it writes back (`modelOutput`, a Converse response body, or `error`), as
//! the Bedrock user guide describes them ("Format and upload your batch inference data",
//! "View the results of a batch inference job").
//!
//! Record ids are `R` + the request's 10-digit index (11 alphanumeric characters, as the
//! guide's examples use), not example ids, which may hold characters the service refuses; the
//! output is joined back by record id because its order is not guaranteed. The id *is* the
//! index, so the join needs no table: its memory is one slot per request.
//!
//! Running a suite through jobs (`mode = "batch"` on a Bedrock candidate) is [`job`].

pub mod job;

use std::io::BufRead;
use std::path::Path;

use serde_json::{Value, json};

use crate::error::{EvalError, Location, Result};
use crate::pricing::CandidatePrice;
use crate::types::{ChatRequest, ExampleRequest, ResponseRecord, Role};

/// The record id of the request at `index`.
pub fn record_id(index: usize) -> String {
    format!("R{index:010}")
}

/// The Converse request body of `req` (the model id is the job's, not the record's).
pub fn model_input(req: &ChatRequest) -> Value {
    let messages: Vec<Value> = req
        .messages
        .iter()
        .map(|m| {
            let role = match m.role {
                Role::User => "user",
                Role::Assistant => "assistant",
            };
            json!({ "role": role, "content": [{ "text": m.content }] })
        })
        .collect();
    let mut inference = json!({
        "maxTokens": req.sampling.max_tokens,
        "temperature": req.sampling.temperature,
    });
    if let Some(p) = req.sampling.top_p {
        inference["topP"] = json!(p);
    }
    if !req.sampling.stop.is_empty() {
        inference["stopSequences"] = json!(req.sampling.stop);
    }
    let mut body = json!({ "messages": messages, "inferenceConfig": inference });
    if let Some(system) = &req.system {
        body["system"] = json!([{ "text": system }]);
    }
    body
}

/// The input JSONL of `requests`, one record per request, in order.
pub fn input_jsonl(requests: &[ExampleRequest]) -> String {
    let mut out = String::new();
    for (i, r) in requests.iter().enumerate() {
        let line = json!({ "recordId": record_id(i), "modelInput": model_input(&r.request) });
        out.push_str(&line.to_string());
        out.push('\n');
    }
    out
}

/// The index of the request a record id names, if it is one of `n` requests.
fn record_index(rid: &str, n: usize) -> Option<usize> {
    let digits = rid.strip_prefix('R')?;
    if digits.len() != 10 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<usize>().ok().filter(|&i| i < n)
}

/// Per request, in request order, its record from a job's output (`reader`, the
/// `.jsonl.out` read from `path`, which names it in errors): answered (text, tokens from the
/// record's `usage`, dollars at `price`, the batch rate) or failed with the record's error;
/// `None` for a request the job wrote nothing for (unprocessed).
///
/// # Errors
/// [`EvalError::Input`] naming the line for a line that is not a JSON record, a record id
/// this job did not send, or a record answered twice; [`EvalError::Io`] when reading fails.
pub fn read_output(
    reader: impl BufRead,
    path: &Path,
    requests: &[ExampleRequest],
    price: &CandidatePrice,
) -> Result<Vec<Option<ResponseRecord>>> {
    let mut records: Vec<Option<ResponseRecord>> = vec![None; requests.len()];
    for (n, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| EvalError::io(path, e))?;
        if line.trim().is_empty() {
            continue;
        }
        let at = || Location::line(path, n + 1);
        let v: Value = serde_json::from_str(&line)
            .map_err(|e| EvalError::input(at(), format!("not JSON: {e}")))?;
        let rid = v["recordId"].as_str().unwrap_or_default();
        let Some(i) = record_index(rid, requests.len()) else {
            return Err(EvalError::input(
                at().field("recordId"),
                format!(
                    "{rid:?} is not a record of this job\nhint: is this the output of another job's input?"
                ),
            ));
        };
        if records[i].is_some() {
            return Err(EvalError::input(
                at().field("recordId"),
                format!("{rid:?} is answered twice"),
            ));
        }
        let mut record = ResponseRecord {
            id: requests[i].id.clone(),
            ..ResponseRecord::default()
        };
        let output = &v["modelOutput"];
        if output.is_object() {
            let usage = &output["usage"];
            let count = |k: &str| usage[k].as_u64().unwrap_or(0);
            record.text = output["output"]["message"]["content"]
                .as_array()
                .map(|parts| parts.iter().filter_map(|p| p["text"].as_str()).collect())
                .unwrap_or_default();
            record.input_tokens = count("inputTokens");
            record.output_tokens = count("outputTokens");
            record.cache_read_tokens = count("cacheReadInputTokens");
            record.cache_write_tokens = count("cacheWriteInputTokens");
            record.latency_ms = output["metrics"]["latencyMs"].as_f64().unwrap_or(0.0);
            record.cost_usd = price.answer_cost(
                record.input_tokens,
                record.output_tokens,
                record.cache_read_tokens,
                record.cache_write_tokens,
            );
        } else {
            let e = &v["error"];
            record.error = Some(format!(
                "batch record failed: {} {}",
                e["errorCode"],
                e["errorMessage"].as_str().unwrap_or("(no message)")
            ));
        }
        records[i] = Some(record);
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::types::{Message, Sampling};

    fn request(id: &str, text: &str) -> ExampleRequest {
        ExampleRequest {
            id: id.into(),
            request: ChatRequest {
                system: Some("Be brief.".into()),
                messages: vec![Message {
                    role: Role::User,
                    content: text.into(),
                }],
                sampling: Sampling {
                    max_tokens: 64,
                    stop: vec!["\n".into()],
                    ..Sampling::default()
                },
                scoring: None,
            },
        }
    }

    #[test]
    fn input_records_are_converse_bodies_with_alphanumeric_ids() {
        let jsonl = input_jsonl(&[request("gsm8k/L1", "2+2?"), request("L2", "3+3?")]);
        let lines: Vec<Value> = jsonl
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1]["recordId"], "R0000000001");
        assert_eq!(
            lines[0]["modelInput"],
            json!({
                "system": [{"text": "Be brief."}],
                "messages": [{"role": "user", "content": [{"text": "2+2?"}]}],
                "inferenceConfig": {"maxTokens": 64, "temperature": 0.0, "stopSequences": ["\n"]},
            })
        );
        assert!(lines.iter().all(|l| {
            let id = l["recordId"].as_str().unwrap();
            id.len() == 11 && id.chars().all(|c| c.is_ascii_alphanumeric())
        }));
    }

    #[test]
    fn output_is_joined_by_record_id_priced_and_never_drops_a_request() {
        let reqs = [request("a", "x"), request("b", "y"), request("c", "z")];
        // Out of order, one failed record, one missing.
        let out = concat!(
            r#"{"recordId":"R0000000001","modelInput":{},"error":{"errorCode":400,"errorMessage":"bad input"}}"#,
            "\n",
            r#"{"recordId":"R0000000000","modelInput":{},"modelOutput":{"output":{"message":{"role":"assistant","content":[{"text":"4"}]}},"stopReason":"end_turn","usage":{"inputTokens":10,"outputTokens":2,"totalTokens":12},"metrics":{"latencyMs":120}}}"#,
            "\n",
        );
        let price = CandidatePrice::tokens(1.0, 2.0);
        let records = read_output(out.as_bytes(), Path::new("x.jsonl.out"), &reqs, &price).unwrap();
        assert!(
            records[2].is_none(),
            "an unprocessed record stays open for a retry"
        );
        let records: Vec<ResponseRecord> = records.into_iter().flatten().collect();
        let ids: Vec<&str> = records.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["a", "b"]);
        assert_eq!(records[0].text, "4");
        assert_eq!((records[0].input_tokens, records[0].output_tokens), (10, 2));
        assert!((records[0].cost_usd - 0.014).abs() < 1e-12);
        assert_eq!(records[0].latency_ms, 120.0);
        assert_eq!(
            records[1].error.as_deref(),
            Some("batch record failed: 400 bad input")
        );

        for foreign in ["R0000000009", "R12", "x0000000001"] {
            let line = format!(r#"{{"recordId":"{foreign}","modelInput":{{}}}}"#);
            let err = read_output(line.as_bytes(), Path::new("x.jsonl.out"), &reqs, &price)
                .unwrap_err()
                .to_string();
            assert!(err.starts_with("x.jsonl.out:1: field `recordId`"), "{err}");
        }
        let twice = format!(
            "{}\n{}",
            out.lines().next().unwrap(),
            out.lines().next().unwrap()
        );
        let err = read_output(twice.as_bytes(), Path::new("x.jsonl.out"), &reqs, &price)
            .unwrap_err()
            .to_string();
        assert!(err.contains("answered twice"), "{err}");
    }
}
