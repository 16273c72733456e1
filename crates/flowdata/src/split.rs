//! Stratified, seeded train/validation/test splits that never separate
//! identical feature rows.

use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hasher};

use hashbrown::HashMap;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{FlowDataError, Result};
use crate::frame::FlowFrame;

/// Fractions and seed of a three-way split.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SplitConfig {
    /// Share of rows for training. Default 0.7.
    pub train: f64,
    /// Share of rows for validation. Default 0.1.
    pub validation: f64,
    /// Share of rows for testing. Default 0.2 (the reference system's 80/20
    /// with a tenth of the training rows held out for validation).
    pub test: f64,
    /// Seed of the shuffle. Default 42.
    pub seed: u64,
}

impl Default for SplitConfig {
    fn default() -> Self {
        SplitConfig {
            train: 0.7,
            validation: 0.1,
            test: 0.2,
            seed: 42,
        }
    }
}

impl SplitConfig {
    /// Check that the fractions are in [0, 1] and sum to 1.
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("train", self.train),
            ("validation", self.validation),
            ("test", self.test),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(FlowDataError::config(
                    "split",
                    format!("{name} fraction must lie in [0, 1], got {v}"),
                ));
            }
        }
        let sum = self.train + self.validation + self.test;
        if (sum - 1.0).abs() > 1e-9 {
            return Err(FlowDataError::config(
                "split",
                format!("fractions must sum to 1, got {sum}"),
            ));
        }
        Ok(())
    }
}

/// Row indices of the three parts, each in ascending order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitIndices {
    /// Training rows.
    pub train: Vec<usize>,
    /// Validation rows.
    pub validation: Vec<usize>,
    /// Test rows.
    pub test: Vec<usize>,
}

/// The three parts of a split frame.
#[derive(Clone, Debug, PartialEq)]
pub struct Split {
    /// Training rows.
    pub train: FlowFrame,
    /// Validation rows.
    pub validation: FlowFrame,
    /// Test rows.
    pub test: FlowFrame,
}

/// Split row indices, stratified by raw label, seeded. Rows with identical
/// features form one group that goes to a single part, so no feature row
/// ever appears in two parts (even with different labels); a class's groups
/// are shuffled and dealt to the parts by the fractions of its rows.
///
/// ```
/// use flowdata::{SplitConfig, split_indices, synth};
/// let frame = synth::generate(&synth::SynthConfig { rows: 2_000, ..Default::default() });
/// let s = split_indices(&frame, &SplitConfig::default()).unwrap();
/// assert_eq!(s.train.len() + s.validation.len() + s.test.len(), frame.n_rows());
/// ```
pub fn split_indices(frame: &FlowFrame, config: &SplitConfig) -> Result<SplitIndices> {
    config.validate()?;
    let x = frame.features();
    let same = |a: usize, b: usize| {
        x.row(a)
            .iter()
            .zip(x.row(b).iter())
            .all(|(p, q)| (p + 0.0).to_bits() == (q + 0.0).to_bits())
    };
    // Group identical feature rows: group ids in order of first appearance.
    let hasher = hashbrown::DefaultHashBuilder::default();
    let hash = |r: usize, salt: u64| {
        let mut h = hasher.build_hasher();
        h.write_u64(salt);
        for v in x.row(r) {
            h.write_u32((v + 0.0).to_bits());
        }
        h.finish()
    };
    let n = frame.n_rows();
    if u32::try_from(n).is_err() {
        return Err(FlowDataError::Shape(format!(
            "cannot split {n} rows: at most {} are supported",
            u32::MAX
        )));
    }
    let hashes: Vec<u64> = (0..n).into_par_iter().map(|r| hash(r, 0)).collect();
    // Each row's representative: the first row with the same features.
    // Rows are sharded by hash so that shards are grouped in parallel;
    // identical rows share a hash, hence a shard.
    let shard_bits = (rayon::current_num_threads() * 4)
        .next_power_of_two()
        .trailing_zeros();
    let shard_of = |h: u64| {
        if shard_bits == 0 {
            0
        } else {
            (h >> (64 - shard_bits)) as usize
        }
    };
    let rows_of_shard = |shard: usize| {
        hashes
            .iter()
            .enumerate()
            .filter(move |(_, h)| shard_of(**h) == shard)
    };
    let reps: Vec<Vec<u32>> = (0..1usize << shard_bits)
        .into_par_iter()
        .map(|shard| {
            let expected = (n >> shard_bits) + (n >> shard_bits) / 8 + 16;
            let mut by_hash: HashMap<u64, u32> = HashMap::with_capacity(expected);
            let mut reps = Vec::with_capacity(expected);
            for (r, &h0) in rows_of_shard(shard) {
                let mut salt = 0u64;
                let mut h = h0;
                let rep = loop {
                    match by_hash.get(&h) {
                        Some(&rep) if same(rep as usize, r) => break rep,
                        Some(_) => {
                            // A 64-bit collision between different rows: probe on.
                            salt += 1;
                            h = hash(r, salt);
                        }
                        None => {
                            by_hash.insert(h, r as u32);
                            break r as u32;
                        }
                    }
                };
                reps.push(rep);
            }
            reps
        })
        .collect();
    // Group ids in order of first appearance, written over the
    // representatives (a representative precedes the rows it stands for).
    let mut group_of = vec![0u32; n];
    for (shard, reps) in reps.into_iter().enumerate() {
        for ((r, _), rep) in rows_of_shard(shard).zip(reps) {
            group_of[r] = rep;
        }
    }
    drop(hashes);
    let mut group_rep: Vec<u32> = Vec::new();
    for r in 0..n {
        let rep = group_of[r] as usize;
        group_of[r] = if rep == r {
            group_rep.push(r as u32);
            (group_rep.len() - 1) as u32
        } else {
            group_of[rep]
        };
    }
    let mut size = vec![0u32; group_rep.len()];
    group_of.iter().for_each(|&g| size[g as usize] += 1);
    // Stratify groups by the class of their first row.
    let mut by_class: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for (g, &rep) in group_rep.iter().enumerate() {
        by_class
            .entry(frame.class_ids()[rep as usize])
            .or_default()
            .push(g as u32);
    }
    drop(group_rep);
    // Whole groups go to train (0), validation (1) or test (2).
    let mut part_of = vec![0u8; size.len()];
    let mut rng = StdRng::seed_from_u64(config.seed);
    for (_, mut gs) in by_class {
        gs.shuffle(&mut rng);
        let total: usize = gs.iter().map(|&g| size[g as usize] as usize).sum();
        let n_train = (config.train * total as f64).round() as usize;
        let n_val = (config.validation * total as f64).round() as usize;
        let mut taken = 0usize;
        for g in gs {
            part_of[g as usize] = if taken < n_train {
                0
            } else if taken < n_train + n_val {
                1
            } else {
                2
            };
            taken += size[g as usize] as usize;
        }
    }
    let mut counts = [0usize; 3];
    group_of
        .iter()
        .for_each(|&g| counts[usize::from(part_of[g as usize])] += 1);
    let mut out = SplitIndices {
        train: Vec::with_capacity(counts[0]),
        validation: Vec::with_capacity(counts[1]),
        test: Vec::with_capacity(counts[2]),
    };
    for (r, &g) in group_of.iter().enumerate() {
        match part_of[g as usize] {
            0 => out.train.push(r),
            1 => out.validation.push(r),
            _ => out.test.push(r),
        }
    }
    Ok(out)
}

impl FlowFrame {
    /// Split into train, validation and test frames, consuming the frame:
    /// validation and test rows are copied out, then the training rows are
    /// compacted in place, so that peak memory stays near one matrix plus
    /// the smaller parts. Indices must come from [`split_indices`] on this frame.
    pub fn into_split(self, idx: &SplitIndices) -> Result<Split> {
        let n = self.n_rows();
        if idx.train.len() + idx.validation.len() + idx.test.len() != n
            || idx.train.iter().any(|&r| r >= n)
            || idx.train.windows(2).any(|w| w[0] >= w[1])
        {
            return Err(FlowDataError::Shape(format!(
                "split indices do not partition the frame's {n} rows in ascending order"
            )));
        }
        let validation = self.select_rows(&idx.validation);
        let test = self.select_rows(&idx.test);
        let origins = self.origins().map(|o| o.select(&idx.train));
        let (schema, x, class_ids, classes) = self.into_parts();
        let nf = x.ncols();
        let (mut values, _) = x.into_raw_vec_and_offset();
        let mut ids = Vec::with_capacity(idx.train.len());
        for (w, &r) in idx.train.iter().enumerate() {
            if w != r {
                values.copy_within(r * nf..(r + 1) * nf, w * nf);
            }
            ids.push(class_ids[r]);
        }
        values.truncate(idx.train.len() * nf);
        values.shrink_to_fit();
        let x = ndarray::Array2::from_shape_vec((idx.train.len(), nf), values)
            .map_err(|e| FlowDataError::Shape(e.to_string()))?;
        let mut train = FlowFrame::new(schema, x, ids, classes)?;
        if let Some(o) = origins {
            train = train.with_origins(o)?;
        }
        Ok(Split {
            train,
            validation,
            test,
        })
    }

    /// Split into train, validation and test frames (see [`split_indices`]).
    pub fn split(&self, config: &SplitConfig) -> Result<Split> {
        let idx = split_indices(self, config)?;
        Ok(Split {
            train: self.select_rows(&idx.train),
            validation: self.select_rows(&idx.validation),
            test: self.select_rows(&idx.test),
        })
    }
}
