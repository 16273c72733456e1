//! Saving and loading: bit-identical outputs, and a clear error for every
//! kind of bad file.

use std::path::Path;

use autoencoders::{
    Autoencoder, AutoencoderError, CONFIG_FILE, Conv1dConfig, DenseConfig, EmbeddingConfig,
    FORMAT_VERSION, Model, ModelConfig, ModelKind, Trainer, TrainerConfig, WEIGHTS_FILE,
};
use ndarray::Array2;
use rand::{Rng, SeedableRng, rngs::StdRng};
use safetensors::tensor::{Dtype, TensorView};

fn data(rows: usize, cols: usize, seed: u64) -> Array2<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    Array2::from_shape_simple_fn((rows, cols), || rng.random_range(0.0..1.0))
}

fn configs() -> Vec<(ModelConfig, usize)> {
    vec![
        (ModelConfig::default_for(ModelKind::FeedForward), 13),
        (
            ModelConfig::Conv1d(Conv1dConfig {
                kernel_size: 5,
                ..Default::default()
            }),
            77,
        ),
        (
            ModelConfig::Deep(DenseConfig {
                input_noise_std: 0.1,
                embedding: Some(EmbeddingConfig {
                    column: 1,
                    cardinality: 100,
                    dim: 3,
                }),
                ..DenseConfig::deep()
            }),
            9,
        ),
    ]
}

fn with_categories(mut x: Array2<f32>, model: &dyn Autoencoder) -> Array2<f32> {
    if let Some((col, card)) = model.categorical_column() {
        for (i, v) in x.column_mut(col).iter_mut().enumerate() {
            *v = (i % card) as f32;
        }
    }
    x
}

#[test]
fn save_then_load_gives_bit_identical_outputs() {
    for (cfg, n) in configs() {
        let dir = tempfile::tempdir().unwrap();
        let mut model = Model::new(&cfg, n, 4).unwrap();
        let x = with_categories(data(200, n, 1), &model);
        // Train a little so the weights are not the seeded initial ones.
        Trainer::new(TrainerConfig {
            epochs: 2,
            min_epoch_rows: 0,
            ..Default::default()
        })
        .unwrap()
        .fit_split(&mut model, x.view(), &mut |_| {})
        .unwrap();
        model.save(dir.path()).unwrap();
        let loaded = Model::load(dir.path()).unwrap();
        assert_eq!(loaded.config(), &cfg);
        assert_eq!(loaded.kind(), cfg.kind());
        assert_eq!(loaded.parameter_shapes(), model.parameter_shapes());
        // Bit-identical, not merely close.
        let same = |a: Array2<f32>, b: Array2<f32>| {
            assert_eq!(a.shape(), b.shape());
            assert!(
                a.iter()
                    .zip(b.iter())
                    .all(|(u, v)| u.to_bits() == v.to_bits())
            );
        };
        same(
            loaded.encode_batch(x.view()).unwrap(),
            model.encode_batch(x.view()).unwrap(),
        );
        same(
            loaded.reconstruct_batch(x.view()).unwrap(),
            model.reconstruct_batch(x.view()).unwrap(),
        );
        // No temporary files are left behind.
        let mut files: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        files.sort();
        assert_eq!(
            files,
            vec![CONFIG_FILE.to_string(), WEIGHTS_FILE.to_string()]
        );
        // Saving again over an existing model works.
        loaded.save(dir.path()).unwrap();
        assert!(Model::load(dir.path()).is_ok());
    }
}

#[test]
fn the_json_names_the_format_and_the_tensors() {
    let dir = tempfile::tempdir().unwrap();
    let model = Model::new(&ModelConfig::FeedForward(DenseConfig::feedforward()), 6, 1).unwrap();
    model.save(dir.path()).unwrap();
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join(CONFIG_FILE)).unwrap()).unwrap();
    assert_eq!(json["format_version"], FORMAT_VERSION);
    assert_eq!(json["crate_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(json["kind"], "feedforward");
    assert_eq!(json["model"]["kind"], "feedforward");
    assert_eq!(json["n_features"], 6);
    assert_eq!(json["latent_dim"], 32);
    assert_eq!(json["tensors"][0]["name"], "encoder.0.weight");
    // PyTorch's nn.Linear layout: [out, in].
    assert_eq!(json["tensors"][0]["shape"], serde_json::json!([128, 6]));
    assert_eq!(json["tensors"][11]["name"], "decoder.2.bias");
    let bytes = std::fs::read(dir.path().join(WEIGHTS_FILE)).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut names = st.names();
    names.sort();
    assert_eq!(names.len(), 12);
    assert_eq!(st.tensor("decoder.2.weight").unwrap().shape(), &[6, 128]);
}

fn saved_ff(dir: &Path, hidden: Vec<usize>) {
    let cfg = DenseConfig {
        hidden,
        ..Default::default()
    };
    Model::new(&ModelConfig::FeedForward(cfg), 5, 1)
        .unwrap()
        .save(dir)
        .unwrap();
}

/// Rewrites the weights file with `edit` applied to the list of tensors.
fn rewrite_weights(dir: &Path, edit: impl FnOnce(&mut Vec<(String, Dtype, Vec<usize>, Vec<u8>)>)) {
    let path = dir.join(WEIGHTS_FILE);
    let bytes = std::fs::read(&path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut tensors: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = st
        .tensors()
        .into_iter()
        .map(|(n, v)| (n, v.dtype(), v.shape().to_vec(), v.data().to_vec()))
        .collect();
    edit(&mut tensors);
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .map(|(n, d, s, b)| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    std::fs::write(&path, safetensors::tensor::serialize(views, None).unwrap()).unwrap();
}

#[test]
fn missing_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let err = Model::load(dir.path().join("nowhere")).unwrap_err();
    assert!(matches!(err, AutoencoderError::Io { .. }), "{err}");
    assert!(err.to_string().contains(CONFIG_FILE), "{err}");

    saved_ff(dir.path(), vec![8]);
    std::fs::remove_file(dir.path().join(WEIGHTS_FILE)).unwrap();
    let err = Model::load(dir.path()).unwrap_err();
    assert!(err.to_string().contains(WEIGHTS_FILE), "{err}");
}

#[test]
fn truncated_or_corrupt_files_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    saved_ff(dir.path(), vec![8]);
    let path = dir.path().join(WEIGHTS_FILE);
    let bytes = std::fs::read(&path).unwrap();
    for cut in [0, 5, 40, bytes.len() - 3] {
        std::fs::write(&path, &bytes[..cut]).unwrap();
        let err = Model::load(dir.path()).unwrap_err();
        assert!(
            matches!(err, AutoencoderError::Safetensors { .. }),
            "cut at {cut}: {err}"
        );
    }
    std::fs::write(&path, &bytes).unwrap();
    assert!(Model::load(dir.path()).is_ok());

    let json_path = dir.path().join(CONFIG_FILE);
    let json = std::fs::read(&json_path).unwrap();
    std::fs::write(&json_path, &json[..json.len() / 2]).unwrap();
    let err = Model::load(dir.path()).unwrap_err();
    assert!(matches!(err, AutoencoderError::Json { .. }), "{err}");
}

#[test]
fn mismatched_weights_are_errors_naming_the_tensor() {
    // Weights of another architecture under the same names.
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    saved_ff(a.path(), vec![8]);
    saved_ff(b.path(), vec![9]);
    std::fs::copy(b.path().join(WEIGHTS_FILE), a.path().join(WEIGHTS_FILE)).unwrap();
    let err = Model::load(a.path()).unwrap_err();
    match &err {
        AutoencoderError::TensorMismatch {
            name,
            expected,
            got,
            ..
        } => {
            assert_eq!(name, "encoder.0.weight");
            assert_eq!(expected, "F32 [8, 5]");
            assert_eq!(got, "F32 [9, 5]");
        }
        other => panic!("{other}"),
    }

    let dir = tempfile::tempdir().unwrap();
    saved_ff(dir.path(), vec![8]);
    rewrite_weights(dir.path(), |t| t.retain(|(n, ..)| n != "decoder.1.bias"));
    let err = Model::load(dir.path()).unwrap_err();
    assert!(
        matches!(&err, AutoencoderError::MissingTensor { name, .. } if name == "decoder.1.bias"),
        "{err}"
    );

    saved_ff(dir.path(), vec![8]);
    rewrite_weights(dir.path(), |t| {
        t.push(("extra.weight".into(), Dtype::F32, vec![1], vec![0; 4]))
    });
    let err = Model::load(dir.path()).unwrap_err();
    assert!(
        matches!(&err, AutoencoderError::UnexpectedTensor { name, .. } if name == "extra.weight"),
        "{err}"
    );

    saved_ff(dir.path(), vec![8]);
    rewrite_weights(dir.path(), |t| {
        let e = t.iter_mut().find(|(n, ..)| n == "encoder.0.bias").unwrap();
        e.1 = Dtype::F64;
        e.3 = vec![0; 8 * 8];
    });
    let err = Model::load(dir.path()).unwrap_err();
    assert!(
        err.to_string().contains("encoder.0.bias") && err.to_string().contains("F64"),
        "{err}"
    );
}

#[test]
fn non_finite_weights_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    saved_ff(dir.path(), vec![8]);
    rewrite_weights(dir.path(), |t| {
        let e = t
            .iter_mut()
            .find(|(n, ..)| n == "encoder.0.weight")
            .unwrap();
        e.3[8..12].copy_from_slice(&f32::NAN.to_le_bytes());
    });
    let err = Model::load(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("encoder.0.weight") && err.contains("NaN") && err.contains("index 2"),
        "{err}"
    );
}

#[test]
fn inconsistent_or_newer_configs_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    saved_ff(dir.path(), vec![8]);
    let json_path = dir.path().join(CONFIG_FILE);
    let original: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json_path).unwrap()).unwrap();
    let write =
        |v: &serde_json::Value| std::fs::write(&json_path, serde_json::to_vec(v).unwrap()).unwrap();

    let mut v = original.clone();
    v["format_version"] = serde_json::json!(FORMAT_VERSION + 1);
    write(&v);
    let err = Model::load(dir.path()).unwrap_err();
    assert!(
        matches!(err, AutoencoderError::FormatVersion { found, .. } if found == FORMAT_VERSION + 1),
        "{err}"
    );

    let mut v = original.clone();
    v["model"]["hidden"] = serde_json::json!([16]);
    write(&v);
    let err = Model::load(dir.path()).unwrap_err();
    assert!(
        matches!(err, AutoencoderError::Inconsistent { .. }),
        "{err}"
    );

    // A configuration far larger than its weights file is rejected before
    // anything is allocated for it.
    let mut v = original.clone();
    let huge = ModelConfig::FeedForward(DenseConfig {
        hidden: vec![1 << 30],
        ..Default::default()
    });
    v["model"]["hidden"] = serde_json::json!([1usize << 30]);
    v["parameter_count"] = serde_json::json!(huge.parameter_count(5));
    write(&v);
    let err = Model::load(dir.path()).unwrap_err();
    assert!(
        matches!(err, AutoencoderError::Inconsistent { .. }) && err.to_string().contains("bytes"),
        "{err}"
    );

    let mut v = original.clone();
    v["kind"] = serde_json::json!("deep");
    write(&v);
    assert!(matches!(
        Model::load(dir.path()).unwrap_err(),
        AutoencoderError::Inconsistent { .. }
    ));

    let mut v = original.clone();
    v["model"]["dropout"] = serde_json::json!(2.0);
    write(&v);
    assert!(matches!(
        Model::load(dir.path()).unwrap_err(),
        AutoencoderError::InvalidConfig { .. }
    ));
}

/// The file format as the crate documentation describes it to a PyTorch
/// user: a feedforward model's encoding is `h = h W^T + b` with ReLU
/// between layers, the weights read from the safetensors file as stored.
#[test]
fn the_documented_format_reproduces_the_encoding() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = DenseConfig {
        hidden: vec![12, 7],
        latent_dim: 5,
        ..DenseConfig::feedforward()
    };
    let model = Model::new(&ModelConfig::FeedForward(cfg), 6, 3).unwrap();
    model.save(dir.path()).unwrap();
    let bytes = std::fs::read(dir.path().join(WEIGHTS_FILE)).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let tensor = |name: &str| {
        let view = st.tensor(name).unwrap();
        let values: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        (view.shape().to_vec(), values)
    };
    let x = data(4, 6, 8);
    let z = model.encode_batch(x.view()).unwrap();
    for (r, row) in x.rows().into_iter().enumerate() {
        let mut h: Vec<f32> = row.to_vec();
        for i in 0..3 {
            let (shape, w) = tensor(&format!("encoder.{i}.weight"));
            let (_, b) = tensor(&format!("encoder.{i}.bias"));
            let (n_out, n_in) = (shape[0], shape[1]);
            assert_eq!(n_in, h.len());
            h = (0..n_out)
                .map(|o| {
                    let s = (0..n_in).map(|j| w[o * n_in + j] * h[j]).sum::<f32>() + b[o];
                    if i < 2 { s.max(0.0) } else { s }
                })
                .collect();
        }
        for (a, b) in h.iter().zip(z.row(r)) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
    }
}
