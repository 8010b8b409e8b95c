//! Hugging Face model directories and safetensors files.
//!
//! A model directory holds `config.json` and either `model.safetensors` or shards listed in
//! `model.safetensors.index.json` (`{"weight_map": {tensor: file}}`). Tensors are read one at
//! a time straight from the file (header parsed here, data read at its offset), so loading
//! needs the model's memory plus one tensor, not a second copy of the checkpoint. F32, F16,
//! BF16 and F64 weights are converted to f32.
//!
//! Before anything is read, every tensor the config implies is looked up, so a wrong
//! checkpoint gets one error listing all missing names, or naming the first mis-shaped one.
//! Tensors the model does not use (e.g. `rotary_emb.inv_freq` in old checkpoints) are ignored.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use burn::prelude::*;
use safetensors::tensor::{Dtype, TensorInfo};

use crate::config::LlamaConfig;
use crate::dtype::WeightDtype;
use crate::error::{ModelError, Result};
use crate::gguf::{self, GgufLlama};
use crate::llama::Llama;

/// Name of the config file in a model directory.
pub const CONFIG_FILE: &str = "config.json";
/// Name of a single-file checkpoint.
pub const WEIGHTS_FILE: &str = "model.safetensors";
/// Name of the index of a sharded checkpoint.
pub const INDEX_FILE: &str = "model.safetensors.index.json";

/// One safetensors file's table of contents.
#[derive(Debug)]
struct FileToc {
    path: PathBuf,
    /// Offset of the data section (8 + header length).
    data_start: u64,
    tensors: HashMap<String, TensorInfo>,
}

/// Reads named tensors from one or several safetensors files.
#[derive(Debug)]
pub struct SafetensorsReader {
    /// Where errors say the tensors came from (the file, or the model directory).
    origin: PathBuf,
    files: Vec<FileToc>,
    /// Tensor name -> index into `files`.
    index: BTreeMap<String, usize>,
}

impl SafetensorsReader {
    /// Opens one safetensors file.
    pub fn open_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let toc = read_toc(path)?;
        let index = toc.tensors.keys().map(|k| (k.clone(), 0)).collect();
        Ok(Self {
            origin: path.to_path_buf(),
            files: vec![toc],
            index,
        })
    }

    /// Opens the weights of an HF model directory: `model.safetensors`, or the shards of
    /// `model.safetensors.index.json`.
    pub fn open_model_dir(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        let index_path = dir.join(INDEX_FILE);
        if index_path.is_file() {
            #[derive(serde::Deserialize)]
            struct Index {
                weight_map: BTreeMap<String, String>,
            }
            let text = std::fs::read_to_string(&index_path).map_err(|source| ModelError::Io {
                path: index_path.clone(),
                source,
            })?;
            let parsed: Index = serde_json::from_str(&text).map_err(|source| ModelError::Json {
                path: index_path.clone(),
                source,
            })?;
            let mut shard_ids: BTreeMap<String, usize> = BTreeMap::new();
            let mut files = Vec::new();
            let mut index = BTreeMap::new();
            for (tensor, shard) in parsed.weight_map {
                let id = match shard_ids.get(&shard) {
                    Some(id) => *id,
                    None => {
                        files.push(read_toc(&dir.join(&shard))?);
                        shard_ids.insert(shard.clone(), files.len() - 1);
                        files.len() - 1
                    }
                };
                if !files[id].tensors.contains_key(&tensor) {
                    return Err(ModelError::Safetensors {
                        path: files[id].path.clone(),
                        reason: format!(
                            "{INDEX_FILE} places `{tensor}` here, but the file lacks it"
                        ),
                    });
                }
                index.insert(tensor, id);
            }
            return Ok(Self {
                origin: dir.to_path_buf(),
                files,
                index,
            });
        }
        let single = dir.join(WEIGHTS_FILE);
        if single.is_file() {
            let mut reader = Self::open_file(&single)?;
            reader.origin = dir.to_path_buf();
            return Ok(reader);
        }
        Err(ModelError::NoWeights {
            dir: dir.to_path_buf(),
        })
    }

    /// Names of all tensors, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.index.keys().map(String::as_str)
    }

    /// Shape of a tensor as stored.
    pub fn shape(&self, name: &str) -> Option<&[usize]> {
        self.info(name).map(|(_, info)| info.shape.as_slice())
    }

    /// Dtype of a tensor as stored.
    pub fn dtype(&self, name: &str) -> Option<Dtype> {
        self.info(name).map(|(_, info)| info.dtype)
    }

    fn info(&self, name: &str) -> Option<(&FileToc, &TensorInfo)> {
        let file = &self.files[*self.index.get(name)?];
        Some((file, file.tensors.get(name)?))
    }

    /// Checks that every `(name, shape)` is present with that shape: all missing names are
    /// reported together, then the first mis-shaped tensor.
    pub fn check(&self, expected: &[(String, Vec<usize>)]) -> Result<()> {
        let missing: Vec<String> = expected
            .iter()
            .filter(|(name, _)| !self.index.contains_key(name))
            .map(|(name, _)| name.clone())
            .collect();
        if !missing.is_empty() {
            return Err(ModelError::MissingTensors {
                dir: self.origin.clone(),
                names: missing,
            });
        }
        for (name, shape) in expected {
            if let Some((file, info)) = self.info(name)
                && &info.shape != shape
            {
                return Err(ModelError::ShapeMismatch {
                    hint: MODEL_SHAPE_HINT.to_string(),
                    path: file.path.clone(),
                    name: name.clone(),
                    expected: shape.clone(),
                    found: info.shape.clone(),
                });
            }
        }
        Ok(())
    }

    /// Reads a tensor as f32 values, row-major, checking its shape.
    pub fn read_f32(&self, name: &str, expected: &[usize]) -> Result<Vec<f32>> {
        let (file, info) = self.info(name).ok_or_else(|| ModelError::MissingTensors {
            dir: self.origin.clone(),
            names: vec![name.to_string()],
        })?;
        if info.shape != expected {
            return Err(ModelError::ShapeMismatch {
                hint: MODEL_SHAPE_HINT.to_string(),
                path: file.path.clone(),
                name: name.to_string(),
                expected: expected.to_vec(),
                found: info.shape.clone(),
            });
        }
        let (start, end) = info.data_offsets;
        let mut bytes = vec![0u8; end - start];
        let io = |source| ModelError::Io {
            path: file.path.clone(),
            source,
        };
        let mut f = File::open(&file.path).map_err(io)?;
        f.seek(SeekFrom::Start(file.data_start + start as u64))
            .map_err(io)?;
        f.read_exact(&mut bytes).map_err(io)?;
        decode_f32(&bytes, info.dtype).ok_or_else(|| ModelError::UnsupportedDtype {
            path: file.path.clone(),
            name: name.to_string(),
            dtype: format!("{:?}", info.dtype),
        })
    }
}

/// Named tensors with PyTorch's names, shapes and layouts, wherever they are stored: a
/// safetensors checkpoint, or a GGUF file whose llama.cpp names and layouts are mapped back
/// ([`crate::gguf::GgufLlama`]).
pub trait TensorSource {
    /// Checks that every `(name, shape)` is present with that shape: all missing names are
    /// reported together, then the first mis-shaped tensor.
    fn check(&self, expected: &[(String, Vec<usize>)]) -> Result<()>;

    /// Reads a tensor as f32 values, row-major, checking its shape.
    fn read_f32(&self, name: &str, expected: &[usize]) -> Result<Vec<f32>>;

    /// Reads a matrix stored with PyTorch shape `shape`, transposed to `[shape[1], shape[0]]`
    /// when `transpose` (linear weights and LoRA matrices go to storage layout this way).
    fn tensor2(
        &self,
        name: &str,
        shape: [usize; 2],
        transpose: bool,
        device: &Device,
    ) -> Result<Tensor<2>> {
        let values = self.read_f32(name, &shape)?;
        let data = match transpose {
            false => TensorData::new(values, shape),
            true => TensorData::new(
                transposed(&values, shape[0], shape[1]),
                [shape[1], shape[0]],
            ),
        };
        Ok(Tensor::from_data(data, device))
    }

    /// Reads a vector of length `len`.
    fn tensor1(&self, name: &str, len: usize, device: &Device) -> Result<Tensor<1>> {
        let values = self.read_f32(name, &[len])?;
        Ok(Tensor::from_data(TensorData::new(values, [len]), device))
    }
}

impl TensorSource for SafetensorsReader {
    fn check(&self, expected: &[(String, Vec<usize>)]) -> Result<()> {
        SafetensorsReader::check(self, expected)
    }

    fn read_f32(&self, name: &str, expected: &[usize]) -> Result<Vec<f32>> {
        SafetensorsReader::read_f32(self, name, expected)
    }
}

/// Parses the header of a safetensors file and checks its offsets against the file size.
fn read_toc(path: &Path) -> Result<FileToc> {
    let io = |source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    };
    let bad = |reason: String| ModelError::Safetensors {
        path: path.to_path_buf(),
        reason,
    };
    let mut f = File::open(path).map_err(io)?;
    let file_len = f.metadata().map_err(io)?.len();
    let mut len_bytes = [0u8; 8];
    f.read_exact(&mut len_bytes)
        .map_err(|_| bad("shorter than its 8-byte header length".to_string()))?;
    let header_len = u64::from_le_bytes(len_bytes);
    // safetensors caps headers at 100 MB; a larger value means a corrupt or foreign file.
    if header_len > 100_000_000 || 8 + header_len > file_len {
        return Err(bad(format!(
            "header length {header_len} does not fit the file"
        )));
    }
    let mut header = vec![0u8; header_len as usize];
    f.read_exact(&mut header).map_err(io)?;
    let raw: HashMap<String, serde_json::Value> =
        serde_json::from_slice(&header).map_err(|e| bad(format!("header: {e}")))?;
    let data_start = 8 + header_len;
    let data_len = (file_len - data_start) as usize;
    let mut tensors = HashMap::with_capacity(raw.len());
    for (name, value) in raw {
        if name == "__metadata__" {
            continue;
        }
        let info: TensorInfo =
            serde_json::from_value(value).map_err(|e| bad(format!("tensor `{name}`: {e}")))?;
        let (start, end) = info.data_offsets;
        let numel: usize = info.shape.iter().product();
        let size = numel * info.dtype.bitsize() / 8;
        if end > data_len && start <= end && end - start == size {
            return Err(bad(format!(
                "tensor `{name}`: offsets {start}..{end} do not hold {numel} {:?} values within {data_len} data bytes: the file is shorter than its header says\nhint: the file is truncated (an interrupted download or copy?); fetch it again",
                info.dtype
            )));
        }
        if start > end || end > data_len || end - start != size {
            return Err(bad(format!(
                "tensor `{name}`: offsets {start}..{end} do not hold {numel} {:?} values within {data_len} data bytes",
                info.dtype
            )));
        }
        tensors.insert(name, info);
    }
    Ok(FileToc {
        path: path.to_path_buf(),
        data_start,
        tensors,
    })
}

/// Little-endian bytes to f32; `None` for dtypes that are not floats this crate reads.
fn decode_f32(bytes: &[u8], dtype: Dtype) -> Option<Vec<f32>> {
    Some(match dtype {
        Dtype::F32 => bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        Dtype::F16 => bytes
            .chunks_exact(2)
            .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        Dtype::BF16 => bytes
            .chunks_exact(2)
            .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        Dtype::F64 => bytes
            .chunks_exact(8)
            .map(|c| {
                let mut a = [0u8; 8];
                a.copy_from_slice(c);
                f64::from_le_bytes(a) as f32
            })
            .collect(),
        _ => return None,
    })
}

/// `[rows, cols]` row-major to `[cols, rows]` row-major.
fn transposed(values: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; values.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = values[r * cols + c];
        }
    }
    out
}

/// What a shape mismatch of model weights points to.
const MODEL_SHAPE_HINT: &str = "check that config.json belongs to these weights";

/// A tensor on the host: f32 values, row-major, and the PyTorch shape.
#[derive(Debug, Clone, PartialEq)]
pub struct HostTensor {
    /// The values.
    pub values: Vec<f32>,
    /// The shape.
    pub shape: Vec<usize>,
}

impl HostTensor {
    /// A tensor from values and shape.
    pub fn new(values: Vec<f32>, shape: Vec<usize>) -> Self {
        Self { values, shape }
    }
}

/// Reads a tensor back to the host as f32.
pub fn tensor_to_f32<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>> {
    t.try_into_vec_as::<f32>()
        .map_err(|e| ModelError::Backend(format!("{e:?}")))
}

/// Reads a storage-layout matrix `[a, b]` back in PyTorch's layout `[b, a]`.
pub fn tensor_to_host_transposed(t: Tensor<2>) -> Result<HostTensor> {
    let [a, b] = t.dims();
    let values = tensor_to_f32(t)?;
    Ok(HostTensor::new(transposed(&values, a, b), vec![b, a]))
}

/// Reads a tensor back to the host as it is laid out.
pub fn tensor_to_host<const D: usize>(t: Tensor<D>) -> Result<HostTensor> {
    let shape = t.dims().to_vec();
    Ok(HostTensor::new(tensor_to_f32(t)?, shape))
}

/// Writes named f32 tensors to a safetensors file, atomically.
pub fn write_safetensors(path: &Path, tensors: Vec<(String, HostTensor)>) -> Result<()> {
    let shapes: Vec<(String, Vec<usize>)> = tensors
        .iter()
        .map(|(name, t)| (name.clone(), t.shape.clone()))
        .collect();
    let mut values: Vec<Option<Vec<f32>>> =
        tensors.into_iter().map(|(_, t)| Some(t.values)).collect();
    write_safetensors_streamed(path, &shapes, |i| Ok(values[i].take().unwrap_or_default()))
}

/// Writes f32 tensors to a safetensors file one at a time, so that only one tensor's values
/// are in memory: `tensors` gives the names and shapes, in file order, and `values(i)` the
/// values of the `i`-th when its turn comes. Atomic: a crash leaves no half-written file under
/// the real name.
pub fn write_safetensors_streamed(
    path: &Path,
    tensors: &[(String, Vec<usize>)],
    mut values: impl FnMut(usize) -> Result<Vec<f32>>,
) -> Result<()> {
    use std::io::Write;
    let mut header = serde_json::Map::new();
    header.insert(
        "__metadata__".to_string(),
        serde_json::json!({"format": "pt"}),
    );
    let mut offset = 0usize;
    for (name, shape) in tensors {
        let end = offset + shape.iter().product::<usize>() * 4;
        header.insert(
            name.clone(),
            serde_json::json!({"dtype": "F32", "shape": shape, "data_offsets": [offset, end]}),
        );
        offset = end;
    }
    let mut head = serde_json::to_vec(&header)
        .map_err(|e| ModelError::InvalidInput(format!("safetensors header: {e}")))?;
    // Data starts 8-byte aligned, as the safetensors library writes it.
    head.resize(head.len().next_multiple_of(8), b' ');
    let tmp = tunebench_core::fs::temp_beside(path);
    let io = |source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut write = || -> Result<()> {
        let mut f = std::io::BufWriter::new(File::create(&tmp).map_err(io)?);
        f.write_all(&(head.len() as u64).to_le_bytes())
            .map_err(io)?;
        f.write_all(&head).map_err(io)?;
        for (i, (name, shape)) in tensors.iter().enumerate() {
            let v = values(i)?;
            if v.len() != shape.iter().product::<usize>() {
                return Err(ModelError::InvalidInput(format!(
                    "tensor `{name}`: {} values for shape {shape:?}",
                    v.len()
                )));
            }
            let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
            f.write_all(&bytes).map_err(io)?;
        }
        let f = f.into_inner().map_err(|e| io(e.into_error()))?;
        f.sync_all().map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    };
    write().inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// [`tunebench_core::write_atomic`] with this crate's error: a crash never leaves a
/// half-written file under the real name.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    tunebench_core::write_atomic(path, bytes).map_err(|source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Loads an HF model directory (`config.json` + safetensors), or a `.gguf` file, onto
/// `device`, in f32.
pub fn load_model(dir: impl AsRef<Path>, device: &Device) -> Result<Llama> {
    load_model_as(dir, device, WeightDtype::F32)
}

/// [`load_model`] with the frozen weights stored in `dtype` (see [`crate::dtype`]).
pub fn load_model_as(dir: impl AsRef<Path>, device: &Device, dtype: WeightDtype) -> Result<Llama> {
    let dir = dir.as_ref();
    if gguf::is_gguf(dir) {
        return GgufLlama::open(dir)?.load_model(device, dtype);
    }
    let config = LlamaConfig::from_file(dir.join(CONFIG_FILE))?;
    load_dir(dir, &config, device, dtype)
}

/// The config of an HF model directory (its `config.json`), or the one a `.gguf` file's
/// metadata describes.
pub fn load_config(dir: impl AsRef<Path>) -> Result<LlamaConfig> {
    let dir = dir.as_ref();
    match gguf::is_gguf(dir) {
        true => Ok(GgufLlama::open(dir)?.config().clone()),
        false => LlamaConfig::from_file(dir.join(CONFIG_FILE)),
    }
}

/// Checks an HF model directory's weights (or a `.gguf` file's) against `config` without
/// reading their data: each file's header parses and the file holds every byte the header
/// places, and every tensor the config implies is present with its shape. Returns the number
/// of tensors checked.
pub fn check_model_dir(dir: impl AsRef<Path>, config: &LlamaConfig) -> Result<usize> {
    let dir = dir.as_ref();
    let expected = Llama::tensor_shapes(config);
    match gguf::is_gguf(dir) {
        true => GgufLlama::open(dir)?.check(&expected)?,
        false => SafetensorsReader::open_model_dir(dir)?.check(&expected)?,
    }
    Ok(expected.len())
}

/// Loads the weights of an HF model directory with a config from elsewhere.
pub fn load_model_with_config(
    dir: impl AsRef<Path>,
    config: &LlamaConfig,
    device: &Device,
) -> Result<Llama> {
    load_dir(dir.as_ref(), config, device, WeightDtype::F32)
}

fn load_dir(
    dir: &Path,
    config: &LlamaConfig,
    device: &Device,
    dtype: WeightDtype,
) -> Result<Llama> {
    let reader = SafetensorsReader::open_model_dir(dir)?;
    reader.check(&Llama::tensor_shapes(config))?;
    Llama::from_tensors(config, &reader, device, dtype)
}

/// Files of an HF model directory besides the weights that a saved model needs to be
/// usable: tokenizer, tokenizer and generation configs, chat template.
pub const TOKENIZER_FILES: [&str; 4] = [
    "tokenizer.json",
    "tokenizer_config.json",
    "generation_config.json",
    "chat_template.jinja",
];

/// Copies the [`TOKENIZER_FILES`] that `from` has into `to` (atomically, each); from a
/// `.gguf` file, writes the tokenizer files its metadata describes.
pub fn copy_tokenizer_files(from: impl AsRef<Path>, to: impl AsRef<Path>) -> Result<()> {
    if gguf::is_gguf(from.as_ref()) {
        let files = gguf::tokenizer_files(&gguf::GgufFile::open(from)?)?;
        return gguf::tokenizer::write_tokenizer_files(&files, to.as_ref());
    }
    for f in TOKENIZER_FILES {
        let src = from.as_ref().join(f);
        if src.is_file() {
            let bytes = std::fs::read(&src).map_err(|source| ModelError::Io {
                path: src.clone(),
                source,
            })?;
            write_atomic(&to.as_ref().join(f), &bytes)?;
        }
    }
    Ok(())
}

/// Writes the model (adapters must be merged or removed first) as an HF checkpoint:
/// `config.json` and `model.safetensors` in f32, PyTorch names and layouts.
pub fn save_model(model: &Llama, dir: impl AsRef<Path>) -> Result<()> {
    let dir = dir.as_ref();
    std::fs::create_dir_all(dir).map_err(|source| ModelError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    if model.linears().iter().any(|(_, _, l)| l.lora.is_some()) {
        return Err(ModelError::InvalidInput(
            "the model carries LoRA adapters\nhint: merge them (lora::merge_adapters) before saving a full checkpoint".to_string(),
        ));
    }
    let mut tensors = Vec::new();
    let m = &model.model;
    tensors.push((
        "model.embed_tokens.weight".to_string(),
        tensor_to_host(m.embed_tokens.weight.val())?,
    ));
    let mut push_linear = |name: String, l: &crate::lora::Linear| -> Result<()> {
        tensors.push((
            format!("{name}.weight"),
            tensor_to_host_transposed(l.weight.val())?,
        ));
        if let Some(b) = &l.bias {
            tensors.push((format!("{name}.bias"), tensor_to_host(b.val())?));
        }
        Ok(())
    };
    for (layer, name, l) in model.linears() {
        push_linear(Llama::linear_path(layer, name), l)?;
    }
    if let Some(head) = &model.lm_head {
        push_linear("lm_head".to_string(), head)?;
    }
    let norms = m
        .layers
        .iter()
        .enumerate()
        .flat_map(|(i, l)| {
            let a = &l.self_attn;
            [
                (
                    format!("model.layers.{i}.input_layernorm.weight"),
                    Some(&l.input_layernorm),
                ),
                (
                    format!("model.layers.{i}.post_attention_layernorm.weight"),
                    Some(&l.post_attention_layernorm),
                ),
                // Gemma's norms around the MLP.
                (
                    format!("model.layers.{i}.pre_feedforward_layernorm.weight"),
                    l.pre_feedforward_layernorm.as_ref(),
                ),
                (
                    format!("model.layers.{i}.post_feedforward_layernorm.weight"),
                    l.post_feedforward_layernorm.as_ref(),
                ),
                // Qwen3's and Gemma's per-head norms.
                (
                    format!("model.layers.{i}.self_attn.q_norm.weight"),
                    a.q_norm.as_ref(),
                ),
                (
                    format!("model.layers.{i}.self_attn.k_norm.weight"),
                    a.k_norm.as_ref(),
                ),
            ]
            .into_iter()
            .filter_map(|(name, norm)| Some((name, norm?)))
        })
        .chain([("model.norm.weight".to_string(), &m.norm)]);
    for (name, norm) in norms {
        tensors.push((name, tensor_to_host(norm.weight.val())?));
    }
    write_safetensors(&dir.join(WEIGHTS_FILE), tensors)?;
    let mut config = model.config.clone();
    config.dtype = Some("float32".to_string());
    config.torch_dtype = None;
    let json = serde_json::to_string_pretty(&config)
        .map_err(|e| ModelError::InvalidInput(format!("config: {e}")))?;
    write_atomic(&dir.join(CONFIG_FILE), json.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_precision_decodes_exactly() {
        let values = [1.5f32, -2.25, 0.0, 65504.0];
        let f16: Vec<u8> = values
            .iter()
            .flat_map(|v| half::f16::from_f32(*v).to_le_bytes())
            .collect();
        let bf16: Vec<u8> = values
            .iter()
            .flat_map(|v| half::bf16::from_f32(*v).to_le_bytes())
            .collect();
        assert_eq!(decode_f32(&f16, Dtype::F16), Some(values.to_vec()));
        assert_eq!(
            decode_f32(&bf16, Dtype::BF16),
            Some(vec![1.5, -2.25, 0.0, 65536.0])
        );
        assert_eq!(decode_f32(&[0u8; 4], Dtype::I32), None);
    }

    #[test]
    fn transpose_swaps_axes() {
        // [[1, 2, 3], [4, 5, 6]] -> [[1, 4], [2, 5], [3, 6]]
        assert_eq!(
            transposed(&[1., 2., 3., 4., 5., 6.], 2, 3),
            vec![1., 4., 2., 5., 3., 6.]
        );
    }

    #[test]
    fn written_file_reads_back_with_names_shapes_and_values() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| ModelError::InvalidInput(e.to_string()))?;
        let path = dir.path().join("t.safetensors");
        write_safetensors(
            &path,
            vec![
                (
                    "a".to_string(),
                    HostTensor::new(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], vec![2, 3]),
                ),
                ("b".to_string(), HostTensor::new(vec![7.0], vec![1])),
            ],
        )?;
        let r = SafetensorsReader::open_file(&path)?;
        assert_eq!(r.names().collect::<Vec<_>>(), vec!["a", "b"]);
        assert_eq!(
            r.read_f32("a", &[2, 3])?,
            vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
        );
        let err = r
            .read_f32("a", &[3, 2])
            .map(|_| ())
            .map_err(|e| e.to_string());
        assert!(
            err.err()
                .unwrap_or_default()
                .contains("tensor `a` has shape [2, 3], expected [3, 2]")
        );
        let err = r.check(&[("c".to_string(), vec![1]), ("d".to_string(), vec![1])]);
        let msg = err.map_err(|e| e.to_string()).err().unwrap_or_default();
        assert!(msg.contains("2 missing tensor(s): `c`, `d`"), "{msg}");
        Ok(())
    }

    #[test]
    fn truncated_file_is_a_clear_error() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| ModelError::InvalidInput(e.to_string()))?;
        let path = dir.path().join("t.safetensors");
        write_safetensors(
            &path,
            vec![("a".to_string(), HostTensor::new(vec![1.0; 16], vec![16]))],
        )?;
        let bytes = std::fs::read(&path).map_err(|e| ModelError::InvalidInput(e.to_string()))?;
        std::fs::write(&path, &bytes[..bytes.len() - 4])
            .map_err(|e| ModelError::InvalidInput(e.to_string()))?;
        let msg = SafetensorsReader::open_file(&path)
            .map(|_| ())
            .map_err(|e| e.to_string());
        assert!(
            msg.err()
                .unwrap_or_default()
                .contains("tensor `a`: offsets")
        );
        Ok(())
    }
}
