//! The saved-model format: tensor names and shapes as a PyTorch user
//! expects, read back with the `safetensors` crate, and clear errors for
//! damaged files.

use std::collections::BTreeMap;

use ppo::{CONFIG_FILE, OPTIMIZER_FILE, POLICY_FILE, Ppo, PpoConfig, PpoError, SavedModel};
use rlenv::{CartPole, VecEnv};
use safetensors::{Dtype, SafeTensors};

fn trained_model() -> Ppo {
    let mut env = VecEnv::new(vec![CartPole::new(), CartPole::new()]).unwrap();
    let config = PpoConfig {
        n_steps: 64,
        batch_size: 32,
        n_epochs: 2,
        ..PpoConfig::default()
    };
    let mut model = Ppo::new(config, &env, 3).unwrap();
    model
        .learn(&mut env, 128, &mut |_: &ppo::IterationRecord| {
            ppo::Control::Continue
        })
        .unwrap();
    model
}

fn shapes(path: &std::path::Path) -> BTreeMap<String, Vec<usize>> {
    let bytes = std::fs::read(path).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    st.tensors()
        .into_iter()
        .map(|(name, view)| {
            assert_eq!(view.dtype(), Dtype::F32, "{name}");
            (name, view.shape().to_vec())
        })
        .collect()
}

#[test]
fn policy_file_has_pytorch_names_and_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let model = trained_model();
    model.save(dir.path()).unwrap();
    // nn.Sequential(Linear(4, 128), Tanh(), Linear(128, 128), Tanh(), Linear(128, n))
    let expected: BTreeMap<String, Vec<usize>> = [
        ("pi.0.weight", vec![128, 4]),
        ("pi.0.bias", vec![128]),
        ("pi.2.weight", vec![128, 128]),
        ("pi.2.bias", vec![128]),
        ("pi.4.weight", vec![2, 128]),
        ("pi.4.bias", vec![2]),
        ("vf.0.weight", vec![128, 4]),
        ("vf.0.bias", vec![128]),
        ("vf.2.weight", vec![128, 128]),
        ("vf.2.bias", vec![128]),
        ("vf.4.weight", vec![1, 128]),
        ("vf.4.bias", vec![1]),
    ]
    .into_iter()
    .map(|(n, s)| (n.to_string(), s))
    .collect();
    assert_eq!(shapes(&dir.path().join(POLICY_FILE)), expected);

    // Values: the first layer's weight row-major [out, in], as nn.Linear.
    let bytes = std::fs::read(dir.path().join(POLICY_FILE)).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let w = st.tensor("pi.0.weight").unwrap();
    let first: Vec<f32> = w
        .data()
        .chunks_exact(4)
        .take(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    assert_eq!(first, model.policy_net().params()[..4].to_vec());
    let last_bias = st.tensor("vf.4.bias").unwrap();
    let b = f32::from_le_bytes(last_bias.data()[..4].try_into().unwrap());
    assert_eq!(b, *model.value_net().params().last().unwrap());

    // The optimiser file mirrors every tensor with Adam's two moments.
    let opt = shapes(&dir.path().join(OPTIMIZER_FILE));
    assert_eq!(opt.len(), 2 * expected.len());
    for (name, shape) in &expected {
        assert_eq!(opt[&format!("{name}.exp_avg")], *shape);
        assert_eq!(opt[&format!("{name}.exp_avg_sq")], *shape);
    }

    // The JSON half.
    let saved: SavedModel =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join(CONFIG_FILE)).unwrap())
            .unwrap();
    assert_eq!(saved.format_version, ppo::FORMAT_VERSION);
    assert_eq!(&saved.config, model.config());
    assert_eq!(saved.num_timesteps, 128);
    assert_eq!(saved.seed, 3);
    // One iteration: 2 epochs of 128 / 32 = 4 minibatches.
    assert_eq!(saved.policy_adam_steps, 8);
}

fn rewrite_policy(dir: &std::path::Path, edit: impl Fn(&mut Vec<(String, Vec<usize>, Vec<u8>)>)) {
    rewrite_tensors(&dir.join(POLICY_FILE), edit);
}

/// Rewrites the safetensors file `path` through `edit` on its tensors.
fn rewrite_tensors(path: &std::path::Path, edit: impl Fn(&mut Vec<(String, Vec<usize>, Vec<u8>)>)) {
    let bytes = std::fs::read(path).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = st
        .tensors()
        .into_iter()
        .map(|(n, v)| (n, v.shape().to_vec(), v.data().to_vec()))
        .collect();
    edit(&mut tensors);
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = tensors
        .iter()
        .map(|(n, s, d)| {
            (
                n.clone(),
                safetensors::tensor::TensorView::new(Dtype::F32, s.clone(), d).unwrap(),
            )
        })
        .collect();
    std::fs::write(path, safetensors::serialize(views, None).unwrap()).unwrap();
}

#[test]
fn damaged_models_are_reported() {
    let model = trained_model();
    let fresh = || {
        let dir = tempfile::tempdir().unwrap();
        model.save(dir.path()).unwrap();
        dir
    };
    let invalid = |dir: &tempfile::TempDir| match Ppo::load(dir.path()) {
        Err(PpoError::InvalidModelFile { message, .. }) => message,
        other => panic!("expected an invalid-model error, got {other:?}"),
    };

    let dir = fresh();
    rewrite_policy(dir.path(), |t| t.retain(|(n, _, _)| n != "pi.2.bias"));
    assert!(invalid(&dir).contains("pi.2.bias"));

    let dir = fresh();
    rewrite_policy(dir.path(), |t| {
        let w = t.iter_mut().find(|(n, _, _)| n == "vf.4.weight").unwrap();
        w.1 = vec![128, 1];
    });
    let msg = invalid(&dir);
    assert!(
        msg.contains("vf.4.weight") && msg.contains("[128, 1]"),
        "{msg}"
    );

    let dir = fresh();
    rewrite_policy(dir.path(), |t| {
        t.push(("pi.6.weight".into(), vec![1], vec![0; 4]))
    });
    assert!(invalid(&dir).contains("pi.6.weight"));

    let dir = fresh();
    let path = dir.path().join(CONFIG_FILE);
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("\"format_version\": 1", "\"format_version\": 99");
    std::fs::write(&path, text).unwrap();
    assert!(invalid(&dir).contains("99"));

    let dir = fresh();
    std::fs::write(dir.path().join(POLICY_FILE), b"not a safetensors file").unwrap();
    assert!(matches!(
        Ppo::load(dir.path()),
        Err(PpoError::SafeTensors { .. })
    ));

    let dir = fresh();
    std::fs::write(dir.path().join(CONFIG_FILE), b"{").unwrap();
    assert!(matches!(Ppo::load(dir.path()), Err(PpoError::Json { .. })));

    let empty = tempfile::tempdir().unwrap();
    assert!(matches!(Ppo::load(empty.path()), Err(PpoError::Io { .. })));

    // Without the optimiser file, the policy loads for inference.
    let dir = fresh();
    std::fs::remove_file(dir.path().join(OPTIMIZER_FILE)).unwrap();
    let loaded = Ppo::load(dir.path()).unwrap();
    assert_eq!(loaded.policy_net(), model.policy_net());
}

/// Rewrites `config.json` through `edit` on its JSON value.
fn rewrite_config(dir: &std::path::Path, edit: impl Fn(&mut serde_json::Value)) {
    let path = dir.join(CONFIG_FILE);
    let mut value: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    edit(&mut value);
    std::fs::write(&path, serde_json::to_vec(&value).unwrap()).unwrap();
}

#[test]
fn sizes_in_config_json_are_checked_against_the_tensors_before_allocating() {
    let model = trained_model();
    let dir = tempfile::tempdir().unwrap();
    model.save(dir.path()).unwrap();
    // A billion-unit layer claimed by the JSON alone: refused, not allocated.
    rewrite_config(dir.path(), |v| {
        v["config"]["net_arch"]["pi"] = serde_json::json!([1_000_000_000u64, 128]);
    });
    match Ppo::load(dir.path()) {
        Err(PpoError::InvalidModelFile { message, .. }) => assert!(
            message.contains("pi.0.weight") && message.contains("1000000000"),
            "{message}"
        ),
        other => panic!("expected an invalid-model error, got {other:?}"),
    }

    // A Box whose shape disagrees with its bounds.
    let dir = tempfile::tempdir().unwrap();
    model.save(dir.path()).unwrap();
    rewrite_config(dir.path(), |v| {
        v["observation_space"]["Box"]["shape"] = serde_json::json!([1_000_000_000_000u64]);
    });
    match Ppo::load(dir.path()) {
        Err(PpoError::InvalidModelFile { message, .. }) => assert!(
            message.contains("observation_space") && message.contains("needs 1000000000000 bounds"),
            "{message}"
        ),
        other => panic!("expected an invalid-model error, got {other:?}"),
    }
    // A shape whose element count overflows.
    rewrite_config(dir.path(), |v| {
        v["observation_space"]["Box"]["shape"] =
            serde_json::json!([4_000_000_000u64, 4_000_000_000u64, 4_000_000_000u64]);
    });
    match Ppo::load(dir.path()) {
        Err(PpoError::InvalidModelFile { message, .. }) => {
            assert!(message.contains("observation_space"), "{message}")
        }
        other => panic!("expected an invalid-model error, got {other:?}"),
    }
}

#[test]
fn non_finite_weights_and_moments_are_refused() {
    let model = trained_model();
    let dir = tempfile::tempdir().unwrap();
    model.save(dir.path()).unwrap();
    rewrite_policy(dir.path(), |t| {
        let w = t.iter_mut().find(|(n, _, _)| n == "pi.2.weight").unwrap();
        w.2[8..12].copy_from_slice(&f32::NAN.to_le_bytes());
    });
    match Ppo::load(dir.path()) {
        Err(PpoError::InvalidModelFile { message, .. }) => assert!(
            message.contains("pi.2.weight")
                && message.contains("NaN")
                && message.contains("index 2"),
            "{message}"
        ),
        other => panic!("expected an invalid-model error, got {other:?}"),
    }

    let dir = tempfile::tempdir().unwrap();
    model.save(dir.path()).unwrap();
    rewrite_policy(dir.path(), |t| {
        let w = t.iter_mut().find(|(n, _, _)| n == "vf.0.bias").unwrap();
        w.2[0..4].copy_from_slice(&f32::INFINITY.to_le_bytes());
    });
    match Ppo::load(dir.path()) {
        Err(PpoError::InvalidModelFile { message, .. }) => {
            assert!(
                message.contains("vf.0.bias") && message.contains("inf"),
                "{message}"
            )
        }
        other => panic!("expected an invalid-model error, got {other:?}"),
    }

    // The optimiser's moments: finite, second moments not negative.
    for (tensor, value, expect) in [
        ("pi.0.weight.exp_avg", f32::NEG_INFINITY, "-inf"),
        ("vf.2.bias.exp_avg_sq", -1.0, "negative"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        model.save(dir.path()).unwrap();
        rewrite_tensors(&dir.path().join(OPTIMIZER_FILE), |tensors| {
            let t = tensors.iter_mut().find(|(n, _, _)| n == tensor).unwrap();
            t.2[0..4].copy_from_slice(&value.to_le_bytes());
        });
        match Ppo::load(dir.path()) {
            Err(PpoError::InvalidModelFile { message, .. }) => {
                assert!(message.contains(expect), "{tensor}: {message}")
            }
            other => panic!("{tensor}: expected an invalid-model error, got {other:?}"),
        }
    }
}

#[test]
fn a_reader_never_sees_a_half_written_model_file() {
    use ppo::NetArch;
    use rlenv::Space;
    // Big enough that an in-place write takes a while.
    let config = PpoConfig {
        net_arch: NetArch {
            pi: vec![512, 512],
            vf: vec![512, 512],
        },
        ..PpoConfig::default()
    };
    let obs = Space::uniform_box(-1.0, 1.0, 64).unwrap();
    let model = Ppo::with_spaces(config, obs, Space::Discrete { n: 2 }, 1).unwrap();
    let dir = tempfile::tempdir().unwrap();
    model.save(dir.path()).unwrap();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (bad, reads) = std::thread::scope(|s| {
        let reader = s.spawn(|| {
            let (mut bad, mut reads) = (0, 0);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for name in [POLICY_FILE, OPTIMIZER_FILE] {
                    let bytes = std::fs::read(dir.path().join(name)).unwrap_or_default();
                    reads += 1;
                    if SafeTensors::deserialize(&bytes).is_err() {
                        bad += 1;
                    }
                }
            }
            (bad, reads)
        });
        for _ in 0..30 {
            model.save(dir.path()).unwrap();
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        reader.join().unwrap()
    });
    assert!(reads > 0);
    assert_eq!(bad, 0, "{bad} of {reads} reads saw a partial file");
    // No temporary file is left beside the model.
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, vec![CONFIG_FILE, OPTIMIZER_FILE, POLICY_FILE]);
}
