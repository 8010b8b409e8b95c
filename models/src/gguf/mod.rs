//! GGUF files, as llama.cpp and Ollama write them, loaded as the same in-memory model as an HF
//! folder.
//!
//! - [`file`]: the container (header, metadata, tensor table) and tensor reads.
//! - [`quants`]: GGML types and their de-quantisation to f32.
//! - [`llama`]: llama and qwen2 files through HF names: config (RoPE scaling included),
//!   tensor names, Q/K rows.
//! - [`tokenizer`]: `tokenizer.json` and `tokenizer_config.json` rebuilt from the metadata.
//! - [`convert`]: the whole file written out as an HF folder.
//!
//! A path ending in `.gguf` is accepted wherever a model folder is ([`is_gguf`]).

use std::path::Path;

pub mod convert;
pub mod file;
pub mod llama;
pub mod quants;
pub mod tokenizer;

pub use convert::convert_to_hf;
pub use file::{GgufFile, TensorInfo, Value};
pub use llama::GgufLlama;
pub use quants::GgmlType;
pub use tokenizer::tokenizer_files;

/// Whether `path` names a GGUF file (by its `.gguf` extension) rather than a model folder.
pub fn is_gguf(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gguf"))
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;
    use crate::weights::SafetensorsReader;

    fn fixtures() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/gguf")
    }

    #[test]
    fn gguf_quants_match_the_reference() {
        let file = GgufFile::open(fixtures().join("quants.gguf")).unwrap();
        let expected =
            SafetensorsReader::open_file(fixtures().join("quants_expected.safetensors")).unwrap();
        let names: Vec<&str> = expected.names().collect();
        assert_eq!(names.len(), 11, "{names:?}");
        for name in names {
            let info = file.tensor(name).unwrap();
            assert_eq!(quants::type_name(info.type_id), name);
            assert_eq!(info.shape(), vec![2, 256]);
            let want = expected.read_f32(name, &[2, 256]).unwrap();
            let got = file.read_f32(name).unwrap();
            for (block, (g, w)) in got.chunks(32).zip(want.chunks(32)).enumerate() {
                assert_eq!(
                    g,
                    w,
                    "{name}: values {}..{} differ",
                    block * 32,
                    block * 32 + 32
                );
            }
        }
    }

    #[test]
    fn gguf_metadata_of_every_value_type_reads_back() {
        let file = GgufFile::open(fixtures().join("quants.gguf")).unwrap();
        assert_eq!(file.version, 3);
        let get = |k: &str| file.get(k).unwrap().clone();
        assert_eq!(get("general.alignment"), Value::U32(64));
        assert_eq!(file.data_start % 64, 0);
        assert_eq!(get("test.u8"), Value::U8(200));
        assert_eq!(get("test.i8"), Value::I8(-100));
        assert_eq!(get("test.u16"), Value::U16(60000));
        assert_eq!(get("test.i16"), Value::I16(-30000));
        assert_eq!(get("test.u32"), Value::U32(4_000_000_000));
        assert_eq!(get("test.i32"), Value::I32(-2_000_000_000));
        assert_eq!(get("test.f32"), Value::F32(0.25));
        assert_eq!(get("test.bool"), Value::Bool(true));
        assert_eq!(get("test.string"), Value::String("héllo ✓".into()));
        assert_eq!(get("test.u64"), Value::U64(18_000_000_000_000_000_000));
        assert_eq!(get("test.i64"), Value::I64(-9_000_000_000_000_000_000));
        assert_eq!(get("test.f64"), Value::F64(-1.5e300));
        assert_eq!(
            get("test.array_i32"),
            Value::Array(vec![Value::I32(1), Value::I32(-2), Value::I32(3)])
        );
        assert_eq!(
            file.strings("test.array_str").unwrap(),
            vec!["a", "", "ünï"]
        );
        assert_eq!(
            get("test.array_nested"),
            Value::Array(vec![
                Value::Array(vec![Value::I32(1), Value::I32(2)]),
                Value::Array(vec![Value::I32(3)])
            ])
        );
    }

    /// A copy of `quants.gguf` with `edit` applied to its bytes.
    fn edited(edit: impl Fn(&mut Vec<u8>)) -> (tempfile::TempDir, PathBuf) {
        edited_fixture("quants.gguf", edit)
    }

    /// A copy of fixture `name` with `edit` applied to its bytes.
    fn edited_fixture(name: &str, edit: impl Fn(&mut Vec<u8>)) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.gguf");
        let mut bytes = std::fs::read(fixtures().join(name)).unwrap();
        edit(&mut bytes);
        std::fs::write(&path, bytes).unwrap();
        (dir, path)
    }

    /// Sets the type id of 2-D tensor `name` in a GGUF's tensor table to `type_id`.
    fn retag(bytes: &mut [u8], name: &str, type_id: u32) {
        let mut key = (name.len() as u64).to_le_bytes().to_vec();
        key.extend(name.as_bytes());
        let at = bytes.windows(key.len()).position(|w| w == key).unwrap() + key.len();
        // n_dims (4) + 2 dims (16), then the type id.
        let ty = at + 4 + 16;
        bytes[ty..ty + 4].copy_from_slice(&type_id.to_le_bytes());
    }

    fn open_err(path: &Path) -> String {
        GgufFile::open(path).unwrap_err().to_string()
    }

    #[test]
    fn gguf_version_2_reads_like_3() {
        let (_d, path) = edited(|b| b[4..8].copy_from_slice(&2u32.to_le_bytes()));
        let file = GgufFile::open(&path).unwrap();
        assert_eq!(file.version, 2);
        assert_eq!(file.read_f32("Q4_K").unwrap().len(), 512);
    }

    #[test]
    fn gguf_bad_files_are_clear_errors() {
        let (_d, path) = edited(|b| b[0] = b'X');
        assert!(
            open_err(&path).contains("not a GGUF file"),
            "{}",
            open_err(&path)
        );
        let (_d, path) = edited(|b| b[4..8].copy_from_slice(&1u32.to_le_bytes()));
        assert!(open_err(&path).contains("GGUF version 1 is not supported"));
        let (_d, path) = edited(|b| b.truncate(b.len() - 100));
        let msg = open_err(&path);
        assert!(
            msg.contains("tensor `Q6_K`") && msg.contains("truncated"),
            "{msg}"
        );
        assert!(msg.contains("m.gguf"), "{msg}");
        let (_d, path) = edited(|b| b.truncate(100));
        let msg = open_err(&path);
        assert!(msg.contains("runs past the end of the file"), "{msg}");
    }

    #[test]
    fn gguf_unsupported_quantisation_is_named() {
        let (_d, path) = edited(|b| retag(b, "F16", 16));
        let file = GgufFile::open(&path).unwrap();
        let msg = file.read_f32("F16").unwrap_err().to_string();
        assert!(msg.contains("tensor `F16` is stored as IQ2_XXS"), "{msg}");
        assert!(
            msg.contains("hint: supported types are F32, F16, Q4_0"),
            "{msg}"
        );
    }

    #[test]
    fn gguf_sentencepiece_vocabulary_encodes_like_sentencepiece() {
        #[derive(serde::Deserialize)]
        struct Expected {
            texts: Vec<String>,
            ids: Vec<Vec<u32>>,
            hf_ids: Vec<Vec<u32>>,
        }
        let exp: Expected =
            serde_json::from_slice(&std::fs::read(fixtures().join("spm_expected.json")).unwrap())
                .unwrap();
        let tok = crate::TextTokenizer::load(fixtures().join("spm.gguf")).unwrap();
        assert_eq!(exp.texts.len(), 16);
        for ((text, ids), hf_ids) in exp.texts.iter().zip(&exp.ids).zip(&exp.hf_ids) {
            assert_eq!(&tok.encode(text, true).unwrap(), ids, "{text:?}");
            assert_eq!(tok.decode(ids).unwrap(), *text);
            // Where transformers differs from sentencepiece, it is the leading space alone.
            assert!(ids == hf_ids || text.starts_with(' '), "{text:?}");
        }
        // Byte fallback: characters outside the 400-piece vocabulary are <0xNN> tokens.
        assert!(exp.ids.iter().flatten().any(|&id| (3..259).contains(&id)));
    }

    #[test]
    fn gguf_unknown_tokenizer_model_is_named() {
        let file = GgufFile::open(fixtures().join("quants.gguf")).unwrap();
        let msg = tokenizer_files(&file).unwrap_err().to_string();
        assert!(
            msg.contains("metadata `tokenizer.ggml.model` is missing"),
            "{msg}"
        );
    }
}
