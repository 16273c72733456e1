//! `FlowFrame`: a clean f32 feature matrix with its labels and schema.

use std::collections::BTreeMap;

use ndarray::{Array2, ArrayView2, Axis};

use crate::error::{FlowDataError, Result};
use crate::labels::{ClassInfo, Family};
use crate::origins::Origins;
use crate::schema::Schema;

/// Flows as a row-major `n x features` f32 matrix, one class per row, and
/// the schema that names the columns; where each row came from when the
/// reader was asked to keep it ([`Self::origins`]).
#[derive(Clone, Debug, PartialEq)]
pub struct FlowFrame {
    schema: Schema,
    features: Array2<f32>,
    class_ids: Vec<u32>,
    classes: Vec<ClassInfo>,
    origins: Option<Origins>,
}

impl FlowFrame {
    /// Assemble a frame, checking that the shapes agree and that every
    /// class id refers to an entry of `classes`.
    ///
    /// ```
    /// use flowdata::{ClassInfo, FlowFrame, Schema};
    /// let schema = Schema::cicids2017().retain_features(&["Flow Duration", "Flow Bytes/s"]);
    /// let x = ndarray::array![[1.0f32, 2.0], [3.0, 4.0]];
    /// let classes = vec![ClassInfo::from_label("BENIGN"), ClassInfo::from_label("DDoS")];
    /// let frame = FlowFrame::new(schema, x, vec![0, 1], classes).unwrap();
    /// assert_eq!(frame.binary_labels(), vec![0, 1]);
    /// ```
    pub fn new(
        schema: Schema,
        features: Array2<f32>,
        class_ids: Vec<u32>,
        classes: Vec<ClassInfo>,
    ) -> Result<FlowFrame> {
        if features.ncols() != schema.n_features() {
            return Err(FlowDataError::Shape(format!(
                "matrix has {} columns but schema '{}' has {} features",
                features.ncols(),
                schema.name,
                schema.n_features()
            )));
        }
        if features.nrows() != class_ids.len() {
            return Err(FlowDataError::Shape(format!(
                "matrix has {} rows but {} labels were given",
                features.nrows(),
                class_ids.len()
            )));
        }
        if let Some(bad) = class_ids.iter().find(|&&c| c as usize >= classes.len()) {
            return Err(FlowDataError::Shape(format!(
                "class id {bad} refers past the {} known classes",
                classes.len()
            )));
        }
        let features = if features.is_standard_layout() {
            features
        } else {
            features.as_standard_layout().into_owned()
        };
        Ok(FlowFrame {
            schema,
            features,
            class_ids,
            classes,
            origins: None,
        })
    }

    /// Where each row came from: kept by [`crate::read_flows`] and
    /// [`crate::FlowReader`] when [`crate::ReadOptions::origins`] is set,
    /// and by [`Self::read_parquet`] and [`Self::read_ipc`] when the file
    /// has identifier columns; `None` otherwise. Row selections and splits
    /// keep it; [`Self::concat`] and [`Self::into_parts`] drop it.
    pub fn origins(&self) -> Option<&Origins> {
        self.origins.as_ref()
    }

    /// Attach the origins of the rows (one per row).
    pub(crate) fn with_origins(mut self, origins: Origins) -> Result<FlowFrame> {
        if origins.rows().len() != self.n_rows() {
            return Err(FlowDataError::Shape(format!(
                "{} row origins for {} rows",
                origins.rows().len(),
                self.n_rows()
            )));
        }
        self.origins = Some(origins);
        Ok(self)
    }

    /// The feature matrix (`n_rows x n_features`, row-major).
    pub fn features(&self) -> ArrayView2<'_, f32> {
        self.features.view()
    }

    /// The feature matrix, mutable (for in-place scaling); the shape is fixed.
    pub fn features_mut(&mut self) -> ndarray::ArrayViewMut2<'_, f32> {
        self.features.view_mut()
    }

    /// The schema naming the columns.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// Write the frame as CSV, atomically: one column per feature (the
    /// schema's names) and a `Label` column with each row's raw label.
    /// Values are written in their shortest exact form, so reading the
    /// file back gives the same `f32` values bit for bit.
    ///
    /// ```
    /// use flowdata::{ClassInfo, FlowFrame, ReadOptions, Schema};
    /// let schema = Schema::cicids2017().retain_features(&["Flow Duration", "Total Fwd Packets"]);
    /// let x = ndarray::array![[0.1f32, 3.0], [1e-7, 2.5]];
    /// let classes = vec![ClassInfo::from_label("BENIGN"), ClassInfo::from_label("DDoS")];
    /// let frame = FlowFrame::new(schema.clone(), x.clone(), vec![0, 1], classes)?;
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("flows.csv");
    /// frame.write_csv(&path)?;
    /// let (back, _) = flowdata::read_flows(&[&path], &ReadOptions::with_schema(schema))?;
    /// assert_eq!(back.features(), x.view());
    /// assert_eq!(back.raw_label(1), "DDoS");
    /// # Ok::<(), flowdata::FlowDataError>(())
    /// ```
    pub fn write_csv(&self, path: impl AsRef<std::path::Path>) -> Result<()> {
        let path = path.as_ref();
        crate::io_util::write_atomic(path, |w| {
            let err = |e: csv::Error| FlowDataError::io(path, std::io::Error::other(e));
            let mut out = csv::Writer::from_writer(w);
            let mut header: Vec<&str> = self.schema.feature_names();
            header.push("Label");
            out.write_record(&header).map_err(err)?;
            let mut record: Vec<String> = Vec::with_capacity(header.len());
            for (r, row) in self.features.rows().into_iter().enumerate() {
                record.clear();
                record.extend(row.iter().map(|v| v.to_string()));
                record.push(self.raw_label(r).to_string());
                out.write_record(&record).map_err(err)?;
            }
            out.flush().map_err(|e| FlowDataError::io(path, e))
        })
    }

    /// Number of flows.
    pub fn n_rows(&self) -> usize {
        self.features.nrows()
    }

    /// Number of features.
    pub fn n_features(&self) -> usize {
        self.features.ncols()
    }

    /// Feature names in column order.
    pub fn feature_names(&self) -> Vec<&str> {
        self.schema.feature_names()
    }

    /// The distinct classes; rows refer to them through [`Self::class_ids`].
    pub fn classes(&self) -> &[ClassInfo] {
        &self.classes
    }

    /// Per-row index into [`Self::classes`].
    pub fn class_ids(&self) -> &[u32] {
        &self.class_ids
    }

    /// The raw label of a row.
    pub fn raw_label(&self, row: usize) -> &str {
        &self.classes[self.class_ids[row] as usize].raw
    }

    /// The family of a row.
    pub fn family(&self, row: usize) -> Family {
        self.classes[self.class_ids[row] as usize].family
    }

    /// True when a row is an attack.
    pub fn is_attack(&self, row: usize) -> bool {
        self.classes[self.class_ids[row] as usize].attack
    }

    /// False for a row whose input gave no label ([`ClassInfo::labelled`]):
    /// its class is an assumption, and metrics leave it out.
    pub fn is_labelled(&self, row: usize) -> bool {
        self.classes[self.class_ids[row] as usize].labelled
    }

    /// Per row: whether the input labelled it ([`Self::is_labelled`]).
    pub fn labelled_mask(&self) -> Vec<bool> {
        self.class_ids
            .iter()
            .map(|&c| self.classes[c as usize].labelled)
            .collect()
    }

    /// Binary labels: 0 benign, 1 attack.
    pub fn binary_labels(&self) -> Vec<u8> {
        self.class_ids
            .iter()
            .map(|&c| u8::from(self.classes[c as usize].attack))
            .collect()
    }

    /// Binary labels as booleans (true = attack).
    pub fn attack_mask(&self) -> Vec<bool> {
        self.class_ids
            .iter()
            .map(|&c| self.classes[c as usize].attack)
            .collect()
    }

    /// Per-row family.
    pub fn families(&self) -> Vec<Family> {
        self.class_ids
            .iter()
            .map(|&c| self.classes[c as usize].family)
            .collect()
    }

    /// Number of rows per raw label.
    pub fn label_counts(&self) -> BTreeMap<String, usize> {
        let mut per_class = vec![0usize; self.classes.len()];
        for &c in &self.class_ids {
            per_class[c as usize] += 1;
        }
        let mut out = BTreeMap::new();
        for (class, n) in self.classes.iter().zip(per_class) {
            if n > 0 {
                *out.entry(class.raw.clone()).or_insert(0) += n;
            }
        }
        out
    }

    /// Number of rows per family.
    pub fn family_counts(&self) -> BTreeMap<Family, usize> {
        let mut out = BTreeMap::new();
        for &c in &self.class_ids {
            *out.entry(self.classes[c as usize].family).or_insert(0) += 1;
        }
        out
    }

    /// The rows at `rows`, in that order (indices must be in range).
    pub fn select_rows(&self, rows: &[usize]) -> FlowFrame {
        FlowFrame {
            schema: self.schema.clone(),
            features: self.features.select(Axis(0), rows),
            class_ids: rows.iter().map(|&r| self.class_ids[r]).collect(),
            classes: self.classes.clone(),
            origins: self.origins.as_ref().map(|o| o.select(rows)),
        }
    }

    /// The rows whose mask entry is true.
    pub fn filter_rows(&self, keep: impl Fn(usize) -> bool) -> FlowFrame {
        let rows: Vec<usize> = (0..self.n_rows()).filter(|&r| keep(r)).collect();
        self.select_rows(&rows)
    }

    /// The benign rows only (benign-only training of anomaly detectors).
    pub fn benign(&self) -> FlowFrame {
        self.filter_rows(|r| !self.is_attack(r))
    }

    /// The named features, in the given order; errors on an unknown name.
    pub fn select_features(&self, names: &[&str]) -> Result<FlowFrame> {
        let mut cols = Vec::with_capacity(names.len());
        let mut specs = Vec::with_capacity(names.len());
        for name in names {
            let i = self.schema.index_of(name).ok_or_else(|| {
                FlowDataError::Shape(format!(
                    "no feature '{name}' in schema '{}'",
                    self.schema.name
                ))
            })?;
            cols.push(i);
            specs.push(self.schema.features[i].clone());
        }
        let mut schema = self.schema.clone();
        schema.features = specs;
        // Built row by row, so that the result stays row-major (`select`
        // along columns would give a column-major matrix).
        let features = Array2::from_shape_fn((self.n_rows(), cols.len()), |(r, c)| {
            self.features[[r, cols[c]]]
        });
        Ok(FlowFrame {
            schema,
            features,
            class_ids: self.class_ids.clone(),
            classes: self.classes.clone(),
            origins: self.origins.clone(),
        })
    }

    /// Stack frames with identical feature names; class tables are merged
    /// by raw label. Origins are dropped (positions in different inputs do
    /// not stack).
    pub fn concat(frames: &[FlowFrame]) -> Result<FlowFrame> {
        let first = frames
            .first()
            .ok_or_else(|| FlowDataError::Shape("concat of no frames".into()))?;
        let names = first.feature_names();
        let mut classes: Vec<ClassInfo> = Vec::new();
        let mut class_ids = Vec::new();
        let mut views = Vec::new();
        for f in frames {
            if f.feature_names() != names {
                return Err(FlowDataError::Shape(
                    "frames with different features cannot be stacked".into(),
                ));
            }
            let map: Vec<u32> = f
                .classes
                .iter()
                .map(|c| intern_class(&mut classes, c))
                .collect();
            class_ids.extend(f.class_ids.iter().map(|&c| map[c as usize]));
            views.push(f.features.view());
        }
        let features = ndarray::concatenate(Axis(0), &views)
            .map_err(|e| FlowDataError::Shape(e.to_string()))?;
        FlowFrame::new(first.schema.clone(), features, class_ids, classes)
    }

    /// Split into parts: schema, matrix, class ids, classes (origins are
    /// dropped).
    pub fn into_parts(self) -> (Schema, Array2<f32>, Vec<u32>, Vec<ClassInfo>) {
        (self.schema, self.features, self.class_ids, self.classes)
    }
}

/// The index of `class` in `classes` (by raw label and whether it is one),
/// appending it if new.
pub(crate) fn intern_class(classes: &mut Vec<ClassInfo>, class: &ClassInfo) -> u32 {
    match classes
        .iter()
        .position(|c| c.raw == class.raw && c.labelled == class.labelled)
    {
        Some(i) => i as u32,
        None => {
            classes.push(class.clone());
            (classes.len() - 1) as u32
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn frame() -> FlowFrame {
        let schema = Schema::cicids2017().retain_features(&["Flow Duration", "Flow Bytes/s"]);
        FlowFrame::new(
            schema,
            array![[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]],
            vec![0, 1, 0],
            vec![
                ClassInfo::from_label("BENIGN"),
                ClassInfo::from_label("PortScan"),
            ],
        )
        .unwrap()
    }

    #[test]
    fn shapes_are_checked() {
        let schema = Schema::cicids2017().retain_features(&["Flow Duration"]);
        let err = FlowFrame::new(schema.clone(), array![[1.0, 2.0]], vec![0], vec![]).unwrap_err();
        assert!(err.to_string().contains("2 columns"));
        let err = FlowFrame::new(schema, array![[1.0]], vec![3], vec![]).unwrap_err();
        assert!(err.to_string().contains("class id 3"));
    }

    #[test]
    fn selection_and_counts() {
        let f = frame();
        assert_eq!(f.benign().n_rows(), 2);
        assert_eq!(f.family_counts()[&Family::PortScan], 1);
        let g = f.select_features(&["Flow Bytes/s"]).unwrap();
        assert_eq!(g.features().column(0).to_vec(), vec![2.0, 4.0, 6.0]);
        assert!(f.select_features(&["nope"]).is_err());
        let both = FlowFrame::concat(&[f.clone(), f.select_rows(&[1])]).unwrap();
        assert_eq!(both.n_rows(), 4);
        assert_eq!(both.label_counts()["PortScan"], 2);
    }
}
