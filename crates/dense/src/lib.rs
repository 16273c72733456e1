#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod activation;
mod adam;
mod error;
mod gemm;
mod init;
mod kernels;
mod layers;
mod mlp;

pub use activation::Activation;
pub use adam::{Adam, clip_coefficient, clip_grad_norm, global_norm};
pub use error::{DenseError, Result};
pub use gemm::{MatRef, matmul};
pub use init::orthogonal;
pub use kernels::{
    act_in_place, add_bias_act, column_sums, mul_act_grad, scale, sum_squares, tanh_in_place,
    tanh_scalar,
};
pub use layers::{
    Conv1d, ConvBuffers, add_noise, embed_rows, embed_rows_backward, linear_backward,
    linear_forward, max_pool2, max_pool2_backward, mul_mask, resize_rows, upsample2,
    upsample2_backward,
};
pub use mlp::{Mlp, MlpWorkspace};
