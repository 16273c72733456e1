//! Evaluation-mode passes of the dense models (feedforward and deep) on the
//! `dense` engine: the weights are copied once into engine networks, kept
//! until the parameters change, and batches run in cache-sized row chunks
//! in parallel on rayon's current pool.

use std::sync::{Arc, Mutex, PoisonError};

use dense::{Mlp, MlpWorkspace};
use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;

use crate::error::Result;
use crate::layers::DenseStack;
use crate::params::Parameters;

/// Rows per chunk: the activations of the widest layer of the deep model
/// (256 units) take 512 KB, which stay in a core's L2 cache together with
/// the rest of the chain (measured best among 128 to 2,048 rows).
pub(crate) const ENGINE_CHUNK: usize = 512;

/// The learned embedding of a categorical column, as a row-major table.
#[derive(Debug)]
pub(crate) struct EmbeddingTable {
    /// The categorical input column.
    pub(crate) column: usize,
    /// Width of each category's vector.
    pub(crate) dim: usize,
    /// `cardinality x dim` values.
    pub(crate) table: Vec<f32>,
}

/// A dense model's weights as engine networks.
#[derive(Debug)]
pub(crate) struct Engines {
    generation: u64,
    encoder: Mlp,
    decoder: Mlp,
    /// Encoder and decoder as one chain (the reconstruction).
    full: Mlp,
    embedding: Option<EmbeddingTable>,
}

impl Engines {
    /// The engine networks of `encoder` and `decoder`, with an optional
    /// embedding in front of the encoder.
    pub(crate) fn build(
        params: &Parameters,
        encoder: &DenseStack,
        decoder: &DenseStack,
        embedding: Option<EmbeddingTable>,
    ) -> Result<Self> {
        let generation = params.generation();
        let (enc_sizes, enc_acts, enc_params) = encoder.engine_layout()?;
        let (dec_sizes, dec_acts, dec_params) = decoder.engine_layout()?;
        let full_sizes: Vec<usize> = enc_sizes.iter().chain(&dec_sizes[1..]).copied().collect();
        let full_acts: Vec<_> = enc_acts.iter().chain(&dec_acts).copied().collect();
        let full_params: Vec<f32> = enc_params.iter().chain(&dec_params).copied().collect();
        Ok(Self {
            generation,
            encoder: Mlp::from_params(&enc_sizes, enc_params)?.with_activations(&enc_acts)?,
            decoder: Mlp::from_params(&dec_sizes, dec_params)?.with_activations(&dec_acts)?,
            full: Mlp::from_params(&full_sizes, full_params)?.with_activations(&full_acts)?,
            embedding,
        })
    }

    /// Latent codes of every row.
    pub(crate) fn encode(&self, x: ArrayView2<'_, f32>) -> Result<Array2<f32>> {
        self.forward_inputs(&self.encoder, x)
    }

    /// Reconstructions of every row.
    pub(crate) fn reconstruct(&self, x: ArrayView2<'_, f32>) -> Result<Array2<f32>> {
        self.forward_inputs(&self.full, x)
    }

    /// Decoded rows of latent codes.
    pub(crate) fn decode(&self, z: ArrayView2<'_, f32>) -> Result<Array2<f32>> {
        let net = &self.decoder;
        let out_cols = net.n_outputs();
        run_chunks(z, out_cols, |chunk, rows, scratch, out| {
            out.copy_from_slice(net.forward(chunk, rows, &mut scratch.ws)?);
            Ok(())
        })
    }

    /// Per-row mean squared error of the reconstruction over the
    /// reconstructed columns (all but an embedded categorical one).
    pub(crate) fn reconstruction_errors(&self, x: ArrayView2<'_, f32>) -> Result<Vec<f32>> {
        let net = &self.full;
        let width = net.n_outputs();
        let n = x.ncols();
        let skip = self.embedding.as_ref().map(|e| e.column);
        let errors = run_chunks(x, 1, |chunk, rows, scratch, out| {
            let input = self.engine_input(chunk, rows, &mut scratch.input);
            let recon = net.forward(input.unwrap_or(chunk), rows, &mut scratch.ws)?;
            for ((xr, rr), e) in chunk
                .chunks_exact(n)
                .zip(recon.chunks_exact(width))
                .zip(out.iter_mut())
            {
                let sum: f32 = xr
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| Some(*j) != skip)
                    .zip(rr)
                    .map(|((_, a), b)| (a - b) * (a - b))
                    .sum();
                *e = sum / width as f32;
            }
            Ok(())
        })?;
        Ok(errors.into_raw_vec_and_offset().0)
    }

    /// The outputs of `net` (which starts at the encoder) on every chunk of
    /// `x`, fed the encoder's input: the rows themselves, or with an
    /// embedding the continuous columns followed by the category's vector.
    fn forward_inputs(&self, net: &Mlp, x: ArrayView2<'_, f32>) -> Result<Array2<f32>> {
        run_chunks(x, net.n_outputs(), |chunk, rows, scratch, out| {
            let input = self.engine_input(chunk, rows, &mut scratch.input);
            out.copy_from_slice(net.forward(input.unwrap_or(chunk), rows, &mut scratch.ws)?);
            Ok(())
        })
    }

    /// With an embedding, writes the encoder's input for `rows` rows of
    /// `chunk` into `buf` and returns it; without one, `None` (the rows are
    /// the input).
    fn engine_input<'b>(
        &self,
        chunk: &[f32],
        rows: usize,
        buf: &'b mut Vec<f32>,
    ) -> Option<&'b [f32]> {
        let e = self.embedding.as_ref()?;
        let n = chunk.len() / rows.max(1);
        buf.clear();
        for row in chunk.chunks_exact(n) {
            buf.extend_from_slice(&row[..e.column]);
            buf.extend_from_slice(&row[e.column + 1..]);
            // The category was checked to be an integer in range.
            let id = row[e.column] as usize;
            buf.extend_from_slice(&e.table[id * e.dim..(id + 1) * e.dim]);
        }
        Some(buf)
    }
}

/// The batch helpers of [`Autoencoder`](crate::Autoencoder) on the engine,
/// for an `impl Autoencoder` block of a model with a method
/// `engines(&self) -> Result<Arc<Engines>>`.
macro_rules! engine_batch_helpers {
    () => {
        fn encode_batch(&self, x: ArrayView2<'_, f32>) -> Result<Array2<f32>> {
            self.check_input(x, "input")?;
            self.engines()?.encode(x)
        }

        fn decode_batch(&self, z: ArrayView2<'_, f32>) -> Result<Array2<f32>> {
            crate::model::check_matrix(z, self.latent_dim(), "latent codes")?;
            self.engines()?.decode(z)
        }

        fn reconstruct_batch(&self, x: ArrayView2<'_, f32>) -> Result<Array2<f32>> {
            self.check_input(x, "input")?;
            self.engines()?.reconstruct(x)
        }

        fn reconstruction_errors(&self, x: ArrayView2<'_, f32>) -> Result<Vec<f32>> {
            self.check_input(x, "input")?;
            self.engines()?.reconstruction_errors(x)
        }
    };
}
pub(crate) use engine_batch_helpers;

/// Per-thread scratch memory of the chunked passes.
#[derive(Default)]
struct Scratch {
    ws: MlpWorkspace,
    input: Vec<f32>,
}

/// Runs `f(chunk, rows, scratch, out)` over chunks of [`ENGINE_CHUNK`]
/// rows of `x` in parallel, each writing its `rows x out_cols` outputs.
fn run_chunks(
    x: ArrayView2<'_, f32>,
    out_cols: usize,
    f: impl Fn(&[f32], usize, &mut Scratch, &mut [f32]) -> Result<()> + Sync,
) -> Result<Array2<f32>> {
    let (n_rows, n) = x.dim();
    let x = x.as_standard_layout();
    let xs = x.as_slice().unwrap_or(&[]);
    let mut out = Array2::zeros((n_rows, out_cols));
    if n_rows == 0 || n == 0 || out_cols == 0 {
        return Ok(out);
    }
    let dst = out.as_slice_mut().unwrap_or(&mut []);
    dst.par_chunks_mut(ENGINE_CHUNK * out_cols)
        .zip(xs.par_chunks(ENGINE_CHUNK * n))
        .try_for_each_init(Scratch::default, |scratch, (o, chunk)| {
            f(chunk, chunk.len() / n, scratch, o)
        })?;
    Ok(out)
}

/// The engine networks of a dense model, built on first use and rebuilt
/// after its parameters change.
#[derive(Debug, Default)]
pub(crate) struct EngineCache {
    slot: Mutex<Option<Arc<Engines>>>,
}

impl EngineCache {
    /// The current engines, rebuilt with `build` when `params` changed since
    /// they were made.
    pub(crate) fn get(
        &self,
        params: &Parameters,
        build: impl FnOnce() -> Result<Engines>,
    ) -> Result<Arc<Engines>> {
        let mut slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(e) = slot
            .as_ref()
            .filter(|e| e.generation == params.generation())
        {
            return Ok(Arc::clone(e));
        }
        let engines = Arc::new(build()?);
        *slot = Some(Arc::clone(&engines));
        Ok(engines)
    }
}
