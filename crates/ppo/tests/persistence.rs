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
    let path = dir.join(POLICY_FILE);
    let bytes = std::fs::read(&path).unwrap();
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
    std::fs::write(&path, safetensors::serialize(views, None).unwrap()).unwrap();
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
