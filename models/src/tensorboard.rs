//! TensorBoard event files, written as TensorBoard reads them: TFRecord framing (a length and
//! a payload, each followed by its masked CRC-32C) around `Event` messages, encoded with
//! prost. The messages are the few fields of TensorBoard's `event.proto`, `summary.proto` and
//! the HParams plugin's `api.proto`/`plugin_data.proto` the zoo writes, with their field
//! numbers: scalars as `simple_value` (what Keras' `TensorBoard` callback logs), a
//! `SessionLog` START where a resumed run begins again (TensorBoard then drops the steps a
//! crashed run logged past its checkpoint), and the HParams plugin's experiment and session
//! summaries for hyper-parameter searches.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use prost::Message;

use crate::error::{Error, Result};

/// A file of events in a run's folder (one of TensorBoard's runs).
pub struct EventWriter {
    path: PathBuf,
    file: File,
}

impl EventWriter {
    /// A new event file in `dir` (created if needed), named as TensorFlow names them so that
    /// TensorBoard finds it and reads a run's files in the order they were written.
    pub fn create(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let path = dir.join(format!(
            "events.out.tfevents.{:010}.{:09}.burn-zoo",
            now.as_secs(),
            now.subsec_nanos()
        ));
        let file = File::options()
            .create_new(true)
            .append(true)
            .open(&path)
            .map_err(|e| io_error(&path, e))?;
        let mut writer = EventWriter { path, file };
        writer.write(0, What::FileVersion("brain.Event:2".into()))?;
        Ok(writer)
    }

    /// Scalars of one step (an epoch), one summary value each.
    pub fn scalars(&mut self, step: usize, scalars: &[(&str, f64)]) -> Result<()> {
        let value = scalars
            .iter()
            .map(|&(tag, value)| SummaryValue {
                tag: tag.to_string(),
                metadata: None,
                simple_value: Some(value as f32),
                tensor: None,
            })
            .collect();
        self.write(step, What::Summary(Summary { value }))
    }

    /// Says the run (re)starts at `step`: TensorBoard forgets what earlier files logged from
    /// `step` on, the epochs a stopped run trained past its last checkpoint.
    pub fn start_session(&mut self, step: usize) -> Result<()> {
        self.write(step, What::SessionLog(SessionLog { status: 1 }))
    }

    /// The HParams plugin's session start: the hyper-parameters of the run in this folder.
    pub fn hparams(&mut self, hparams: &BTreeMap<String, HParam>) -> Result<()> {
        let start = SessionStartInfo {
            hparams: hparams
                .iter()
                .map(|(name, value)| (name.clone(), value.into()))
                .collect(),
            start_time_secs: wall_time(),
        };
        self.plugin_summary(
            "_hparams_/session_start_info",
            PluginData::SessionStartInfo(start),
        )
    }

    /// The HParams plugin's experiment: every hyper-parameter searched (with the values or
    /// interval it was drawn from) and the metrics to show beside them, each a scalar tag in a
    /// sub-folder of the sessions' runs (`validation`, `epoch_accuracy`).
    pub fn hparams_experiment(
        &mut self,
        hparams: &[(String, HParamDomain)],
        metrics: &[(&str, &str)],
    ) -> Result<()> {
        let experiment = Experiment {
            time_created_secs: wall_time(),
            hparam_infos: hparams
                .iter()
                .map(|(name, domain)| HParamInfo::new(name, domain))
                .collect(),
            metric_infos: metrics
                .iter()
                .map(|&(group, tag)| MetricInfo {
                    name: Some(MetricName {
                        group: group.to_string(),
                        tag: tag.to_string(),
                    }),
                })
                .collect(),
        };
        self.plugin_summary("_hparams_/experiment", PluginData::Experiment(experiment))
    }

    fn plugin_summary(&mut self, tag: &str, data: PluginData) -> Result<()> {
        let content = HParamsPluginData {
            version: 0,
            data: Some(data),
        }
        .encode_to_vec();
        let value = SummaryValue {
            tag: tag.to_string(),
            metadata: Some(SummaryMetadata {
                plugin_data: Some(PluginDataProto {
                    plugin_name: "hparams".into(),
                    content,
                }),
            }),
            simple_value: None,
            // The plugin's summaries carry an empty float vector (TensorBoard's own writer's
            // `NULL_TENSOR`): its data provider lists tensor summaries only.
            tensor: Some(TensorProto {
                dtype: 1,
                tensor_shape: Some(TensorShapeProto {
                    dim: vec![Dim { size: 0 }],
                }),
            }),
        };
        self.write(0, What::Summary(Summary { value: vec![value] }))
    }

    /// Appends one event as a TFRecord and flushes it, so that a crash loses at most the
    /// record being written (TensorBoard skips a truncated last record).
    fn write(&mut self, step: usize, what: What) -> Result<()> {
        let event = Event {
            wall_time: wall_time(),
            step: step as i64,
            what: Some(what),
        }
        .encode_to_vec();
        let length = (event.len() as u64).to_le_bytes();
        let mut record = Vec::with_capacity(event.len() + 16);
        record.extend_from_slice(&length);
        record.extend_from_slice(&masked_crc(&length).to_le_bytes());
        record.extend_from_slice(&event);
        record.extend_from_slice(&masked_crc(&event).to_le_bytes());
        self.file
            .write_all(&record)
            .and_then(|()| self.file.flush())
            .map_err(|e| io_error(&self.path, e))
    }
}

/// A hyper-parameter's value, as the HParams plugin shows it.
#[derive(Clone, Debug, PartialEq)]
pub enum HParam {
    Number(f64),
    Text(String),
}

/// Where a searched hyper-parameter's values came from.
#[derive(Clone, Debug, PartialEq)]
pub enum HParamDomain {
    Interval { min: f64, max: f64 },
    Numbers(Vec<f64>),
    Texts(Vec<String>),
}

fn wall_time() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

/// TFRecord's checksum: CRC-32C, rotated and offset so that a CRC of data holding CRCs is not
/// degenerate.
fn masked_crc(bytes: &[u8]) -> u32 {
    let crc = crc32c::crc32c(bytes);
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

fn io_error(path: &Path, error: std::io::Error) -> Error {
    Error::Store {
        path: path.to_path_buf(),
        message: format!("cannot write TensorBoard events: {error}"),
    }
}

// TensorBoard's messages, as far as the zoo writes them (field numbers from its .proto files).

/// `tensorboard.Event`.
#[derive(Clone, PartialEq, Message)]
struct Event {
    #[prost(double, tag = "1")]
    wall_time: f64,
    #[prost(int64, tag = "2")]
    step: i64,
    #[prost(oneof = "What", tags = "3, 5, 7")]
    what: Option<What>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
enum What {
    #[prost(string, tag = "3")]
    FileVersion(String),
    #[prost(message, tag = "5")]
    Summary(Summary),
    #[prost(message, tag = "7")]
    SessionLog(SessionLog),
}

/// `tensorboard.SessionLog`; status 1 is START.
#[derive(Clone, PartialEq, Message)]
struct SessionLog {
    #[prost(int32, tag = "1")]
    status: i32,
}

/// `tensorboard.Summary`.
#[derive(Clone, PartialEq, Message)]
struct Summary {
    #[prost(message, repeated, tag = "1")]
    value: Vec<SummaryValue>,
}

/// `tensorboard.Summary.Value`.
#[derive(Clone, PartialEq, Message)]
struct SummaryValue {
    #[prost(string, tag = "1")]
    tag: String,
    #[prost(message, optional, tag = "9")]
    metadata: Option<SummaryMetadata>,
    #[prost(float, optional, tag = "2")]
    simple_value: Option<f32>,
    #[prost(message, optional, tag = "8")]
    tensor: Option<TensorProto>,
}

/// `tensorboard.SummaryMetadata`.
#[derive(Clone, PartialEq, Message)]
struct SummaryMetadata {
    #[prost(message, optional, tag = "1")]
    plugin_data: Option<PluginDataProto>,
}

/// `tensorboard.SummaryMetadata.PluginData`.
#[derive(Clone, PartialEq, Message)]
struct PluginDataProto {
    #[prost(string, tag = "1")]
    plugin_name: String,
    #[prost(bytes = "vec", tag = "2")]
    content: Vec<u8>,
}

/// `tensorboard.TensorProto`; dtype 1 is DT_FLOAT.
#[derive(Clone, PartialEq, Message)]
struct TensorProto {
    #[prost(int32, tag = "1")]
    dtype: i32,
    #[prost(message, optional, tag = "2")]
    tensor_shape: Option<TensorShapeProto>,
}

/// `tensorboard.TensorShapeProto`.
#[derive(Clone, PartialEq, Message)]
struct TensorShapeProto {
    #[prost(message, repeated, tag = "2")]
    dim: Vec<Dim>,
}

/// `tensorboard.TensorShapeProto.Dim`.
#[derive(Clone, PartialEq, Message)]
struct Dim {
    #[prost(int64, tag = "1")]
    size: i64,
}

/// `tensorboard.hparams.HParamsPluginData`.
#[derive(Clone, PartialEq, Message)]
struct HParamsPluginData {
    #[prost(int32, tag = "1")]
    version: i32,
    #[prost(oneof = "PluginData", tags = "2, 3")]
    data: Option<PluginData>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
enum PluginData {
    #[prost(message, tag = "2")]
    Experiment(Experiment),
    #[prost(message, tag = "3")]
    SessionStartInfo(SessionStartInfo),
}

/// `tensorboard.hparams.Experiment`.
#[derive(Clone, PartialEq, Message)]
struct Experiment {
    #[prost(double, tag = "3")]
    time_created_secs: f64,
    #[prost(message, repeated, tag = "4")]
    hparam_infos: Vec<HParamInfo>,
    #[prost(message, repeated, tag = "5")]
    metric_infos: Vec<MetricInfo>,
}

/// `tensorboard.hparams.HParamInfo`; type 1 is DATA_TYPE_STRING, 3 DATA_TYPE_FLOAT64.
#[derive(Clone, PartialEq, Message)]
struct HParamInfo {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(int32, tag = "4")]
    r#type: i32,
    #[prost(oneof = "Domain", tags = "5, 6")]
    domain: Option<Domain>,
}

impl HParamInfo {
    fn new(name: &str, domain: &HParamDomain) -> Self {
        let (r#type, domain) = match domain {
            HParamDomain::Interval { min, max } => (
                3,
                Domain::Interval(Interval {
                    min_value: *min,
                    max_value: *max,
                }),
            ),
            HParamDomain::Numbers(values) => (
                3,
                Domain::Discrete(ListValue {
                    values: values
                        .iter()
                        .map(|v| (&HParam::Number(*v)).into())
                        .collect(),
                }),
            ),
            HParamDomain::Texts(values) => (
                1,
                Domain::Discrete(ListValue {
                    values: values
                        .iter()
                        .map(|v| (&HParam::Text(v.clone())).into())
                        .collect(),
                }),
            ),
        };
        HParamInfo {
            name: name.to_string(),
            r#type,
            domain: Some(domain),
        }
    }
}

#[derive(Clone, PartialEq, prost::Oneof)]
enum Domain {
    #[prost(message, tag = "5")]
    Discrete(ListValue),
    #[prost(message, tag = "6")]
    Interval(Interval),
}

/// `tensorboard.hparams.Interval`.
#[derive(Clone, PartialEq, Message)]
struct Interval {
    #[prost(double, tag = "1")]
    min_value: f64,
    #[prost(double, tag = "2")]
    max_value: f64,
}

/// `tensorboard.hparams.MetricInfo`.
#[derive(Clone, PartialEq, Message)]
struct MetricInfo {
    #[prost(message, optional, tag = "1")]
    name: Option<MetricName>,
}

/// `tensorboard.hparams.MetricName`.
#[derive(Clone, PartialEq, Message)]
struct MetricName {
    #[prost(string, tag = "1")]
    group: String,
    #[prost(string, tag = "2")]
    tag: String,
}

/// `tensorboard.hparams.SessionStartInfo`.
#[derive(Clone, PartialEq, Message)]
struct SessionStartInfo {
    #[prost(btree_map = "string, message", tag = "1")]
    hparams: BTreeMap<String, Value>,
    #[prost(double, tag = "5")]
    start_time_secs: f64,
}

/// `google.protobuf.ListValue`.
#[derive(Clone, PartialEq, Message)]
struct ListValue {
    #[prost(message, repeated, tag = "1")]
    values: Vec<Value>,
}

/// `google.protobuf.Value`, numbers and strings.
#[derive(Clone, PartialEq, Message)]
struct Value {
    #[prost(oneof = "Kind", tags = "2, 3")]
    kind: Option<Kind>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
enum Kind {
    #[prost(double, tag = "2")]
    Number(f64),
    #[prost(string, tag = "3")]
    Text(String),
}

impl From<&HParam> for Value {
    fn from(value: &HParam) -> Self {
        let kind = match value {
            HParam::Number(number) => Kind::Number(*number),
            HParam::Text(text) => Kind::Text(text.clone()),
        };
        Value { kind: Some(kind) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The check values of TensorFlow's own CRC-32C tests (`crc32c_test.cc`): masking must
    /// be TensorFlow's for TensorBoard to accept a record.
    #[test]
    fn masked_crc_is_tensorflows() {
        assert_eq!(crc32c::crc32c(&[0u8; 32]), 0x8a91_36aa);
        let crc = crc32c::crc32c(b"foo");
        assert_ne!(masked_crc(b"foo"), crc);
        // Unmasking (TensorFlow's `Unmask`) gives the CRC back.
        let unmasked = masked_crc(b"foo").wrapping_sub(0xa282_ead8).rotate_left(15);
        assert_eq!(unmasked, crc);
    }
}
