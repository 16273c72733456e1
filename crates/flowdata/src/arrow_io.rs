//! `FlowFrame` to and from Arrow record batches, Parquet and Arrow IPC files.
//!
//! Layout: one `Float32` column per feature (named as in the schema), then
//! `label` (Utf8, the raw label), `family` (Utf8), `attack` (Boolean) and
//! `labelled` (Boolean: false for rows the input gave no label; files
//! without it are read as labelled unless the label names no class).
//! The flowdata schema is stored as JSON in the Arrow schema's metadata
//! under `flowdata.schema`, so a round trip restores feature kinds too.
//! Frames are written without their origins; when a file read has
//! identifier columns ([`crate::IDENTIFIER_COLUMNS`], text or integers),
//! they are kept as the frame's [`crate::Origins`].

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanArray, Float32Array, Float64Array, LargeStringArray, RecordBatch,
    StringArray,
};
use arrow::datatypes::{DataType, Field, Schema as ArrowSchema};
use ndarray::Array2;
use rayon::prelude::*;

use crate::error::{FlowDataError, Result};
use crate::frame::{FlowFrame, intern_class};
use crate::labels::{ClassInfo, Family};
use crate::origins::OriginsBuilder;
use crate::schema::{FeatureKind, FeatureSpec, Schema, identifier_column};
use crate::sniff::{InputKind, SNIFF_BYTES, first_bytes, sniff};

/// Metadata key holding the flowdata schema as JSON.
pub const SCHEMA_METADATA_KEY: &str = "flowdata.schema";
const RESERVED: [&str; 4] = ["label", "family", "attack", "labelled"];
const BATCH_ROWS: usize = 65_536;

fn arrow_schema(schema: &Schema) -> Result<Arc<ArrowSchema>> {
    let mut fields: Vec<Field> = Vec::with_capacity(schema.n_features() + 3);
    for f in &schema.features {
        if RESERVED.contains(&f.name.as_str()) {
            return Err(FlowDataError::arrow(
                "arrow schema",
                format!(
                    "feature name '{}' is reserved for the label columns",
                    f.name
                ),
            ));
        }
        fields.push(Field::new(&f.name, DataType::Float32, false));
    }
    fields.push(Field::new("label", DataType::Utf8, false));
    fields.push(Field::new("family", DataType::Utf8, false));
    fields.push(Field::new("attack", DataType::Boolean, false));
    fields.push(Field::new("labelled", DataType::Boolean, false));
    let json = serde_json::to_string(schema).map_err(|e| FlowDataError::arrow("schema JSON", e))?;
    let metadata = HashMap::from([(SCHEMA_METADATA_KEY.to_string(), json)]);
    Ok(Arc::new(ArrowSchema::new_with_metadata(fields, metadata)))
}

impl FlowFrame {
    /// The rows `start..end` as one Arrow record batch.
    pub fn to_record_batch_range(&self, start: usize, end: usize) -> Result<RecordBatch> {
        let schema = arrow_schema(self.schema())?;
        let x = self.features();
        let rows = start..end.min(self.n_rows());
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.n_features() + 3);
        for j in 0..self.n_features() {
            let col: Float32Array = rows.clone().map(|r| x[[r, j]]).collect::<Vec<f32>>().into();
            columns.push(Arc::new(col));
        }
        let labels: StringArray = rows.clone().map(|r| Some(self.raw_label(r))).collect();
        let families: StringArray = rows.clone().map(|r| Some(self.family(r).name())).collect();
        let attack: BooleanArray = rows.clone().map(|r| Some(self.is_attack(r))).collect();
        let labelled: BooleanArray = rows.map(|r| Some(self.is_labelled(r))).collect();
        columns.push(Arc::new(labels));
        columns.push(Arc::new(families));
        columns.push(Arc::new(attack));
        columns.push(Arc::new(labelled));
        RecordBatch::try_new(schema, columns).map_err(|e| FlowDataError::arrow("record batch", e))
    }

    /// The whole frame as one Arrow record batch.
    ///
    /// ```
    /// let frame = flowdata::synth::generate(&flowdata::synth::SynthConfig { rows: 100, ..Default::default() });
    /// let batch = frame.to_record_batch().unwrap();
    /// assert_eq!(batch.num_rows(), frame.n_rows());
    /// let back = flowdata::FlowFrame::from_record_batches(&[batch]).unwrap();
    /// assert_eq!(back.features(), frame.features());
    /// ```
    pub fn to_record_batch(&self) -> Result<RecordBatch> {
        self.to_record_batch_range(0, self.n_rows())
    }

    /// Rebuild a frame from record batches in the layout above. Without the
    /// schema metadata, every numeric column but the label columns becomes
    /// a continuous feature; `family` and `attack` are derived from `label`
    /// when absent.
    pub fn from_record_batches(batches: &[RecordBatch]) -> Result<FlowFrame> {
        let first = batches
            .first()
            .ok_or_else(|| FlowDataError::arrow("record batches", "no batches"))?;
        let rows = batches.iter().map(RecordBatch::num_rows).sum();
        let mut builder = FrameBuilder::new(&first.schema(), rows)?;
        for batch in batches {
            builder.push(batch)?;
        }
        builder.finish()
    }

    /// Write as a Parquet file (atomically: temp file + rename).
    pub fn write_parquet(&self, path: impl AsRef<Path>) -> Result<()> {
        self.write_batches(path.as_ref(), |w, schema, ctx| {
            let mut writer = parquet::arrow::ArrowWriter::try_new(w, schema, None)
                .map_err(|e| FlowDataError::arrow(ctx, e))?;
            self.for_each_batch(|b| writer.write(b).map_err(|e| FlowDataError::arrow(ctx, e)))?;
            writer.close().map_err(|e| FlowDataError::arrow(ctx, e))?;
            Ok(())
        })
    }

    /// Run `write` on an atomically written file with this frame's Arrow schema.
    fn write_batches(
        &self,
        path: &Path,
        write: impl FnOnce(&mut atomicfile::AtomicFile, Arc<ArrowSchema>, &str) -> Result<()>,
    ) -> Result<()> {
        let schema = arrow_schema(self.schema())?;
        let ctx = path.display().to_string();
        crate::io_util::write_atomic(path, |w| write(w, schema, &ctx))
    }

    /// Call `f` on the frame's record batches of at most `BATCH_ROWS` rows.
    fn for_each_batch(&self, mut f: impl FnMut(&RecordBatch) -> Result<()>) -> Result<()> {
        for start in (0..self.n_rows().max(1)).step_by(BATCH_ROWS) {
            f(&self.to_record_batch_range(start, start + BATCH_ROWS)?)?;
        }
        Ok(())
    }

    /// Read a Parquet file written by [`Self::write_parquet`] (or any file
    /// in the same layout).
    pub fn read_parquet(path: impl AsRef<Path>) -> Result<FlowFrame> {
        let path = path.as_ref();
        let ctx = path.display().to_string();
        let (file, _) = open_expecting(path, "a Parquet file", |k| k == InputKind::Parquet)?;
        let builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .map_err(|e| FlowDataError::arrow(&ctx, e))?;
        let schema = builder.schema().clone();
        let rows = usize::try_from(builder.metadata().file_metadata().num_rows()).unwrap_or(0);
        let reader = builder
            .with_batch_size(BATCH_ROWS)
            .build()
            .map_err(|e| FlowDataError::arrow(&ctx, e))?;
        collect_with_schema(reader, &schema, rows, &ctx)
    }

    /// Write as an Arrow IPC file (atomically).
    pub fn write_ipc(&self, path: impl AsRef<Path>) -> Result<()> {
        self.write_batches(path.as_ref(), |w, schema, ctx| {
            let mut writer = arrow::ipc::writer::FileWriter::try_new(w, &schema)
                .map_err(|e| FlowDataError::arrow(ctx, e))?;
            self.for_each_batch(|b| writer.write(b).map_err(|e| FlowDataError::arrow(ctx, e)))?;
            writer.finish().map_err(|e| FlowDataError::arrow(ctx, e))?;
            Ok(())
        })
    }

    /// Read an Arrow IPC file written by [`Self::write_ipc`], or an Arrow
    /// IPC stream in the same layout.
    pub fn read_ipc(path: impl AsRef<Path>) -> Result<FlowFrame> {
        let path = path.as_ref();
        let ctx = path.display().to_string();
        let (file, kind) = open_expecting(path, "an Arrow IPC file or stream", |k| {
            matches!(k, InputKind::ArrowFile | InputKind::ArrowStream)
        })?;
        if kind == InputKind::ArrowStream {
            let reader =
                arrow::ipc::reader::StreamReader::try_new(std::io::BufReader::new(file), None)
                    .map_err(|e| FlowDataError::arrow(&ctx, e))?;
            let schema = reader.schema();
            return collect_with_schema(reader, &schema, BATCH_ROWS, &ctx);
        }
        let reader = arrow::ipc::reader::FileReader::try_new(file, None)
            .map_err(|e| FlowDataError::arrow(&ctx, e))?;
        let schema = reader.schema();
        // Room for batches of the size this crate writes; untouched
        // capacity costs no memory.
        let rows = reader.num_batches() * BATCH_ROWS;
        collect_with_schema(reader, &schema, rows, &ctx)
    }
}

/// Open a file and check its kind from its first bytes ([`crate::sniff`]),
/// so that a CSV or a capture given as Parquet is named for what it is.
fn open_expecting(
    path: &Path,
    expected: &'static str,
    ok: impl Fn(InputKind) -> bool,
) -> Result<(File, InputKind)> {
    use std::io::{Read, Seek};
    let mut file = File::open(path).map_err(|e| FlowDataError::io(path, e))?;
    let mut head = Vec::with_capacity(SNIFF_BYTES);
    (&mut file)
        .take(SNIFF_BYTES as u64)
        .read_to_end(&mut head)
        .map_err(|e| FlowDataError::io(path, e))?;
    let kind = sniff(&head);
    if !ok(kind) {
        return Err(FlowDataError::WrongFormat {
            path: path.to_path_buf(),
            kind,
            expected,
            first_bytes: first_bytes(&head),
        });
    }
    file.rewind().map_err(|e| FlowDataError::io(path, e))?;
    Ok((file, kind))
}

/// Builds a frame from record batches one at a time, so that a file is
/// never held twice in memory (as decoded columns and as the matrix).
struct FrameBuilder {
    schema: Schema,
    values: Vec<f32>,
    classes: Vec<ClassInfo>,
    class_ids: Vec<u32>,
    /// The identifier columns: (column name, index in
    /// `IDENTIFIER_COLUMNS`), the first of each identifier only.
    identifiers: Vec<(String, usize)>,
    /// Their values, when there are any.
    origins: Option<OriginsBuilder>,
}

impl FrameBuilder {
    /// A builder for batches of `aschema`, with room for `rows` rows.
    fn new(aschema: &ArrowSchema, rows: usize) -> Result<FrameBuilder> {
        let schema = match aschema.metadata().get(SCHEMA_METADATA_KEY) {
            Some(json) => serde_json::from_str::<Schema>(json)
                .map_err(|e| FlowDataError::arrow("schema metadata", e))?,
            None => Schema {
                name: "arrow".into(),
                features: aschema
                    .fields()
                    .iter()
                    .filter(|f| {
                        !RESERVED.contains(&f.name().as_str())
                            && matches!(f.data_type(), DataType::Float32 | DataType::Float64)
                    })
                    .map(|f| FeatureSpec {
                        name: f.name().clone(),
                        kind: FeatureKind::Continuous,
                        nonnegative: false,
                        sentinel: None,
                    })
                    .collect(),
                label_column: "label".into(),
                family_column: None,
                one_hot: Vec::new(),
                use_aliases: false,
            },
        };
        let mut identifiers: Vec<(String, usize)> = Vec::new();
        for f in aschema.fields() {
            let text = matches!(
                f.data_type(),
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
            ) || f.data_type().is_integer();
            if let Some(slot) = identifier_column(f.name())
                && text
                && !identifiers.iter().any(|&(_, s)| s == slot)
            {
                identifiers.push((f.name().clone(), slot));
            }
        }
        Ok(FrameBuilder {
            values: Vec::with_capacity(rows * schema.n_features()),
            class_ids: Vec::with_capacity(rows),
            classes: Vec::new(),
            schema,
            origins: (!identifiers.is_empty()).then(OriginsBuilder::default),
            identifiers,
        })
    }

    /// Append the rows of one batch.
    fn push(&mut self, batch: &RecordBatch) -> Result<()> {
        // Columns as f32 slices (converted when stored as f64 or with nulls).
        let cols: Vec<std::borrow::Cow<'_, [f32]>> = self
            .schema
            .features
            .iter()
            .map(|f| {
                let col = batch.column_by_name(&f.name).ok_or_else(|| {
                    FlowDataError::arrow("record batch", format!("no column '{}'", f.name))
                })?;
                if let Some(a) = col.as_any().downcast_ref::<Float32Array>() {
                    if a.null_count() == 0 {
                        return Ok(std::borrow::Cow::Borrowed(a.values().as_ref()));
                    }
                    return Ok(std::borrow::Cow::Owned(
                        a.iter().map(|v| v.unwrap_or(f32::NAN)).collect(),
                    ));
                }
                if let Some(a) = col.as_any().downcast_ref::<Float64Array>() {
                    return Ok(std::borrow::Cow::Owned(
                        a.iter().map(|v| v.map_or(f32::NAN, |v| v as f32)).collect(),
                    ));
                }
                Err(FlowDataError::arrow(
                    "record batch",
                    format!(
                        "column '{}' is {}, expected Float32",
                        f.name,
                        col.data_type()
                    ),
                ))
            })
            .collect::<Result<_>>()?;
        // Columns to rows, in parallel blocks of rows that stay in cache.
        const BLOCK: usize = 1024;
        let nf = self.schema.n_features();
        let start = self.values.len();
        self.values.resize(start + batch.num_rows() * nf, 0.0);
        if nf > 0 {
            self.values[start..]
                .par_chunks_mut(BLOCK * nf)
                .enumerate()
                .for_each(|(block, dst)| {
                    let first = block * BLOCK;
                    for (j, col) in cols.iter().enumerate() {
                        let src = &col[first..first + dst.len() / nf];
                        for (d, &v) in dst.iter_mut().skip(j).step_by(nf).zip(src) {
                            *d = v;
                        }
                    }
                });
        }
        let labels = batch
            .column_by_name("label")
            .and_then(|c| c.as_any().downcast_ref::<StringArray>())
            .ok_or_else(|| FlowDataError::arrow("record batch", "no Utf8 column 'label'"))?;
        let families = batch
            .column_by_name("family")
            .and_then(|c| c.as_any().downcast_ref::<StringArray>());
        let attack = batch
            .column_by_name("attack")
            .and_then(|c| c.as_any().downcast_ref::<BooleanArray>());
        let labelled = batch
            .column_by_name("labelled")
            .and_then(|c| c.as_any().downcast_ref::<BooleanArray>());
        type Key<'a> = (&'a str, Option<&'a str>, Option<bool>, Option<bool>);
        let mut class_of: HashMap<Key<'_>, u32> = HashMap::new();
        let mut last: Option<(Key<'_>, u32)> = None;
        for r in 0..batch.num_rows() {
            let raw = if labels.is_null(r) {
                ""
            } else {
                labels.value(r)
            };
            let family = families.filter(|f| !f.is_null(r)).map(|f| f.value(r));
            let is_attack = attack.filter(|a| !a.is_null(r)).map(|a| a.value(r));
            let is_labelled = labelled.filter(|a| !a.is_null(r)).map(|a| a.value(r));
            let key = (raw, family, is_attack, is_labelled);
            // Labels come in runs: the previous row's class first.
            if let Some((k, id)) = last
                && k == key
            {
                self.class_ids.push(id);
                continue;
            }
            let id = match class_of.get(&key) {
                Some(&id) => id,
                None => {
                    let mut class = ClassInfo::from_label(raw);
                    if let Some(f) = family {
                        class.family = Family::ALL
                            .into_iter()
                            .find(|x| x.name() == f)
                            .unwrap_or(class.family);
                    }
                    if let Some(a) = is_attack {
                        class.attack = a;
                    }
                    if let Some(l) = is_labelled {
                        class.labelled = l;
                    }
                    let id = intern_class(&mut self.classes, &class);
                    class_of.insert(key, id);
                    id
                }
            };
            last = Some((key, id));
            self.class_ids.push(id);
        }
        if let Some(origins) = &mut self.origins {
            let columns = self
                .identifiers
                .iter()
                .map(|(name, slot)| {
                    let col = batch.column_by_name(name).ok_or_else(|| {
                        FlowDataError::arrow("record batch", format!("no column '{name}'"))
                    })?;
                    let text = arrow::compute::cast(col, &DataType::LargeUtf8)
                        .map_err(|e| FlowDataError::arrow(format!("column '{name}'"), e))?;
                    Ok((*slot, text))
                })
                .collect::<Result<Vec<_>>>()?;
            let columns: Vec<(usize, &LargeStringArray)> = columns
                .iter()
                .filter_map(|(slot, a)| a.as_any().downcast_ref().map(|a| (*slot, a)))
                .collect();
            let first = (self.class_ids.len() - batch.num_rows()) as u64;
            for r in 0..batch.num_rows() {
                let cells = columns
                    .iter()
                    .filter(|(_, a)| a.is_valid(r))
                    .map(|&(slot, a)| (slot, a.value(r).into()));
                origins.push(first + r as u64, cells);
            }
        }
        Ok(())
    }

    fn finish(self) -> Result<FlowFrame> {
        let n = self.class_ids.len();
        let x = Array2::from_shape_vec((n, self.schema.n_features()), self.values)
            .map_err(|e| FlowDataError::Shape(e.to_string()))?;
        let frame = FlowFrame::new(self.schema, x, self.class_ids, self.classes)?;
        match self.origins {
            Some(mut o) => frame.with_origins(o.take()),
            None => Ok(frame),
        }
    }
}

/// Build a frame from a file's batches as they are decoded, re-attaching
/// the file's schema (with its metadata); `rows` sizes the matrix.
fn collect_with_schema(
    batches: impl Iterator<Item = std::result::Result<RecordBatch, arrow::error::ArrowError>>,
    schema: &Arc<ArrowSchema>,
    rows: usize,
    ctx: &str,
) -> Result<FlowFrame> {
    let mut builder = FrameBuilder::new(schema, rows)?;
    for batch in batches {
        let batch = batch
            .and_then(|b| b.with_schema(schema.clone()))
            .map_err(|e| FlowDataError::arrow(ctx, e))?;
        builder.push(&batch)?;
    }
    builder.finish()
}
