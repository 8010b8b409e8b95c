//! The GGUF container: header, metadata key/values, tensor infos, tensor data.
//!
//! Layout (little-endian; spec: `docs/gguf.md` in ggml, reader: `gguf/gguf_reader.py` in
//! llama.cpp's `gguf-py`): magic `GGUF`, version (2 or 3: the same layout, v3 only adds
//! big-endian files, which are refused here), tensor count and metadata count (u64), the
//! metadata (`string key, u32 type, value`), the tensor infos (`string name, u32 n_dims,
//! u64 dims[n_dims]` innermost first, `u32 ggml type, u64 offset`), padding to
//! `general.alignment` (default 32), then the tensor data, each tensor at its offset from the
//! start of that section.
//!
//! Only the header is read when the file is opened; tensor data is read (plain `std` I/O, no
//! mmap) and de-quantised one tensor at a time.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::quants::{self, GgmlType};
use crate::error::{ModelError, Result};

/// One metadata value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `UINT8`.
    U8(u8),
    /// `INT8`.
    I8(i8),
    /// `UINT16`.
    U16(u16),
    /// `INT16`.
    I16(i16),
    /// `UINT32`.
    U32(u32),
    /// `INT32`.
    I32(i32),
    /// `FLOAT32`.
    F32(f32),
    /// `BOOL`.
    Bool(bool),
    /// `STRING` (UTF-8).
    String(String),
    /// `ARRAY` of any one type, arrays included.
    Array(Vec<Value>),
    /// `UINT64`.
    U64(u64),
    /// `INT64`.
    I64(i64),
    /// `FLOAT64`.
    F64(f64),
}

impl Value {
    /// The value as a non-negative integer, whatever its integer type.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U8(v) => Some(v.into()),
            Value::U16(v) => Some(v.into()),
            Value::U32(v) => Some(v.into()),
            Value::U64(v) => Some(v),
            Value::I8(v) => u64::try_from(v).ok(),
            Value::I16(v) => u64::try_from(v).ok(),
            Value::I32(v) => u64::try_from(v).ok(),
            Value::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// The value as a signed integer, whatever its integer type.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::I8(v) => Some(v.into()),
            Value::I16(v) => Some(v.into()),
            Value::I32(v) => Some(v.into()),
            Value::I64(v) => Some(v),
            _ => self.as_u64().and_then(|v| i64::try_from(v).ok()),
        }
    }

    /// The value as a float (either float type).
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::F32(v) => Some(v.into()),
            Value::F64(v) => Some(v),
            _ => None,
        }
    }

    /// The value as a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The value as a bool.
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// The value as an array.
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }
}

/// One tensor's entry in the header.
#[derive(Debug, Clone)]
pub struct TensorInfo {
    /// llama.cpp's name, e.g. `blk.0.attn_q.weight`.
    pub name: String,
    /// Dimensions as GGML orders them: innermost (contiguous) first.
    pub dims: Vec<u64>,
    /// GGML type id (see [`quants::type_name`]).
    pub type_id: u32,
    /// Offset of the data from the start of the data section.
    pub offset: u64,
}

impl TensorInfo {
    /// The shape in PyTorch's order (outermost first), as the tensor is laid out row-major.
    pub fn shape(&self) -> Vec<usize> {
        self.dims.iter().rev().map(|&d| d as usize).collect()
    }

    /// Number of values.
    pub fn numel(&self) -> u64 {
        self.dims.iter().product()
    }
}

/// An open GGUF file: its metadata and tensor table.
#[derive(Debug)]
pub struct GgufFile {
    path: PathBuf,
    /// Format version (2 or 3).
    pub version: u32,
    /// Metadata, by key.
    pub metadata: BTreeMap<String, Value>,
    /// Tensor infos in file order.
    pub tensors: Vec<TensorInfo>,
    index: HashMap<String, usize>,
    /// Absolute offset of the data section.
    pub data_start: u64,
}

/// Refuses counts and lengths that cannot fit in the rest of the file, so a corrupt header
/// gives an error instead of a huge allocation.
struct Header<R> {
    r: R,
    pos: u64,
    len: u64,
}

/// Numbers of the GGUF value types.
const STRING: u32 = 8;
const ARRAY: u32 = 9;

impl<R: Read> Header<R> {
    fn bytes(&mut self, n: u64, what: &str) -> std::result::Result<Vec<u8>, String> {
        if n > self.len.saturating_sub(self.pos) {
            return Err(format!(
                "{what} of {n} bytes at offset {} runs past the end of the file ({} bytes)\nhint: the file is truncated or not a GGUF file",
                self.pos, self.len
            ));
        }
        let mut buf = vec![0u8; n as usize];
        self.r
            .read_exact(&mut buf)
            .map_err(|e| format!("reading {what} at offset {}: {e}", self.pos))?;
        self.pos += n;
        Ok(buf)
    }

    fn array<const N: usize>(&mut self, what: &str) -> std::result::Result<[u8; N], String> {
        let b = self.bytes(N as u64, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(&b);
        Ok(a)
    }

    fn u32(&mut self, what: &str) -> std::result::Result<u32, String> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    fn u64(&mut self, what: &str) -> std::result::Result<u64, String> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    fn string(&mut self, what: &str) -> std::result::Result<String, String> {
        let n = self.u64(what)?;
        String::from_utf8(self.bytes(n, what)?).map_err(|e| format!("{what}: not UTF-8: {e}"))
    }

    fn value(&mut self, ty: u32, what: &str) -> std::result::Result<Value, String> {
        Ok(match ty {
            0 => Value::U8(self.array::<1>(what)?[0]),
            1 => Value::I8(self.array::<1>(what)?[0] as i8),
            2 => Value::U16(u16::from_le_bytes(self.array(what)?)),
            3 => Value::I16(i16::from_le_bytes(self.array(what)?)),
            4 => Value::U32(self.u32(what)?),
            5 => Value::I32(i32::from_le_bytes(self.array(what)?)),
            6 => Value::F32(f32::from_le_bytes(self.array(what)?)),
            7 => match self.array::<1>(what)?[0] {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                b => return Err(format!("{what}: bool byte {b} is neither 0 nor 1")),
            },
            STRING => Value::String(self.string(what)?),
            ARRAY => {
                let item = self.u32(what)?;
                let n = self.u64(what)?;
                // Every item takes at least one byte.
                if n > self.len.saturating_sub(self.pos) {
                    return Err(format!(
                        "{what}: array of {n} items cannot fit in the rest of the file"
                    ));
                }
                let mut items = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    items.push(self.value(item, what)?);
                }
                Value::Array(items)
            }
            10 => Value::U64(self.u64(what)?),
            11 => Value::I64(i64::from_le_bytes(self.array(what)?)),
            12 => Value::F64(f64::from_le_bytes(self.array(what)?)),
            t => return Err(format!("{what}: unknown value type {t}")),
        })
    }
}

impl GgufFile {
    /// Reads the header of a GGUF file: metadata and tensor table, checked against the file
    /// size.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let io = |source| ModelError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        let mut h = Header {
            r: BufReader::with_capacity(1 << 20, file),
            pos: 0,
            len,
        };
        Self::parse(path, &mut h).map_err(|reason| ModelError::Gguf {
            path: path.to_path_buf(),
            reason,
        })
    }

    fn parse<R: Read>(path: &Path, h: &mut Header<R>) -> std::result::Result<Self, String> {
        let magic = h.array::<4>("magic")?;
        if &magic != b"GGUF" {
            return Err(format!(
                "not a GGUF file (magic {magic:?}, expected \"GGUF\")"
            ));
        }
        let version = h.u32("version")?;
        if version.swap_bytes() == 2 || version.swap_bytes() == 3 {
            return Err(
                "big-endian GGUF files are not supported\nhint: convert the model again on a little-endian machine".into(),
            );
        }
        if version != 2 && version != 3 {
            return Err(format!(
                "GGUF version {version} is not supported (versions 2 and 3 are)"
            ));
        }
        let n_tensors = h.u64("tensor count")?;
        let n_kv = h.u64("metadata count")?;
        let mut metadata = BTreeMap::new();
        for i in 0..n_kv {
            let key = h.string(&format!("metadata key #{i}"))?;
            let ty = h.u32(&format!("type of metadata `{key}`"))?;
            let value = h.value(ty, &format!("metadata `{key}`"))?;
            metadata.insert(key, value);
        }
        let mut tensors = Vec::new();
        for i in 0..n_tensors {
            let name = h.string(&format!("tensor name #{i}"))?;
            let what = format!("tensor `{name}`");
            let n_dims = h.u32(&what)?;
            if n_dims > 8 {
                return Err(format!("{what}: {n_dims} dimensions (GGML has at most 4)"));
            }
            let dims = (0..n_dims)
                .map(|_| h.u64(&what))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            let type_id = h.u32(&what)?;
            let offset = h.u64(&what)?;
            tensors.push(TensorInfo {
                name,
                dims,
                type_id,
                offset,
            });
        }
        let alignment = match metadata.get("general.alignment") {
            None => 32,
            Some(v) => match v.as_u64() {
                Some(a) if a > 0 && a.is_power_of_two() => a,
                _ => {
                    return Err(format!(
                        "metadata `general.alignment`: {v:?} is not a power of two"
                    ));
                }
            },
        };
        let data_start = h.pos.div_ceil(alignment) * alignment;
        let data_len = h.len.saturating_sub(data_start);
        let mut index = HashMap::with_capacity(tensors.len());
        for (i, t) in tensors.iter().enumerate() {
            if index.insert(t.name.clone(), i).is_some() {
                return Err(format!("tensor `{}` appears twice", t.name));
            }
            if t.offset % alignment != 0 {
                return Err(format!(
                    "tensor `{}`: offset {} is not a multiple of the alignment {alignment}",
                    t.name, t.offset
                ));
            }
            // Sizes are known for the types read here; others are refused when read.
            if let Some(ty) = GgmlType::from_id(t.type_id) {
                let size = ty.bytes_for(t.numel()).ok_or_else(|| {
                    format!(
                        "tensor `{}`: {} values are not whole {} blocks",
                        t.name,
                        t.numel(),
                        ty.name()
                    )
                })?;
                if t.dims.first().is_some_and(|d| ty.bytes_for(*d).is_none()) {
                    return Err(format!(
                        "tensor `{}`: rows of {} values are not whole {} blocks",
                        t.name,
                        t.dims[0],
                        ty.name()
                    ));
                }
                if t.offset.checked_add(size).is_none_or(|end| end > data_len) {
                    return Err(format!(
                        "tensor `{}`: {size} bytes at data offset {} run past the end of the file ({data_len} data bytes)\nhint: the file is truncated (an interrupted download or copy?); fetch it again",
                        t.name, t.offset
                    ));
                }
            }
        }
        Ok(GgufFile {
            path: path.to_path_buf(),
            version,
            metadata,
            tensors,
            index,
            data_start,
        })
    }

    /// The file this was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The info of tensor `name`.
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.index.get(name).map(|&i| &self.tensors[i])
    }

    /// A metadata value.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.metadata.get(key)
    }

    /// An error about this file.
    pub fn error(&self, reason: impl Into<String>) -> ModelError {
        ModelError::Gguf {
            path: self.path.clone(),
            reason: reason.into(),
        }
    }

    /// A required metadata value, converted by `f`; the error names the key and what was
    /// expected.
    pub fn require<T>(
        &self,
        key: &str,
        expected: &str,
        f: impl Fn(&Value) -> Option<T>,
    ) -> Result<T> {
        let v = self
            .get(key)
            .ok_or_else(|| self.error(format!("metadata `{key}` is missing")))?;
        f(v).ok_or_else(|| {
            self.error(format!(
                "metadata `{key}`: expected {expected}, found {v:?}"
            ))
        })
    }

    /// An optional metadata value, converted by `f`; present but of the wrong type is an error.
    pub fn optional<T>(
        &self,
        key: &str,
        expected: &str,
        f: impl Fn(&Value) -> Option<T>,
    ) -> Result<Option<T>> {
        match self.get(key) {
            None => Ok(None),
            Some(_) => self.require(key, expected, f).map(Some),
        }
    }

    /// A metadata array of strings.
    pub fn strings(&self, key: &str) -> Result<Vec<&str>> {
        let v = self
            .get(key)
            .ok_or_else(|| self.error(format!("metadata `{key}` is missing")))?;
        v.as_array()
            .and_then(|a| a.iter().map(Value::as_str).collect::<Option<Vec<&str>>>())
            .ok_or_else(|| self.error(format!("metadata `{key}`: expected an array of strings")))
    }

    /// The info and type of tensor `name`; a type this crate does not de-quantise is an error
    /// naming it.
    pub fn typed_tensor(&self, name: &str) -> Result<(&TensorInfo, GgmlType)> {
        let t = self
            .tensor(name)
            .ok_or_else(|| self.error(format!("tensor `{name}` is missing")))?;
        let ty = GgmlType::from_id(t.type_id).ok_or_else(|| {
            self.error(format!(
                "tensor `{name}` is stored as {}, which tunebench does not de-quantise\nhint: supported types are {}; re-quantise the model (llama.cpp's llama-quantize) to one of them",
                quants::type_name(t.type_id),
                quants::SUPPORTED.map(GgmlType::name).join(", ")
            ))
        })?;
        Ok((t, ty))
    }

    /// Reads tensor `name` and de-quantises it to f32, row-major in PyTorch's order
    /// ([`TensorInfo::shape`]).
    pub fn read_f32(&self, name: &str) -> Result<Vec<f32>> {
        let (t, ty) = self.typed_tensor(name)?;
        let size = ty
            .bytes_for(t.numel())
            .ok_or_else(|| self.error(format!("tensor `{name}`: not whole blocks")))?;
        let io = |source| ModelError::Io {
            path: self.path.clone(),
            source,
        };
        let mut f = File::open(&self.path).map_err(io)?;
        f.seek(SeekFrom::Start(self.data_start + t.offset))
            .map_err(io)?;
        let mut bytes = vec![0u8; size as usize];
        f.read_exact(&mut bytes).map_err(io)?;
        let mut out = Vec::with_capacity(t.numel() as usize);
        ty.dequantize(&bytes, &mut out);
        Ok(out)
    }
}
