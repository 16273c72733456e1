//! The dense-network engine: tanh MLPs with hand-written forward and
//! backward passes over `matrixmultiply`'s GEMM, Adam on flat parameter
//! buffers, global gradient-norm clipping and a vectorisable tanh.
//!
//! Nothing here allocates once its buffers have reached their working size
//! (`matrixmultiply` itself takes one packing buffer from the allocator per
//! product).

mod adam;
mod gemm;
mod init;
mod kernels;
mod mlp;

pub use adam::{Adam, clip_grad_norm, global_norm};
pub use init::orthogonal;
pub use kernels::{tanh_in_place, tanh_scalar};
pub use mlp::{Mlp, MlpWorkspace};

pub(crate) use adam::clip_coefficient;
pub(crate) use kernels::{scale, sum_squares};
