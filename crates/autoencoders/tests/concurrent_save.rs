//! Saves are atomic and never collide: threads of one process saving into
//! the same directory each write through their own temporary file.

use autoencoders::{Autoencoder, CONFIG_FILE, Model, ModelConfig, ModelKind, WEIGHTS_FILE};

#[test]
fn threads_saving_the_same_model_never_collide_or_leave_temporaries() {
    let model = Model::new(&ModelConfig::default_for(ModelKind::FeedForward), 20, 4).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                for _ in 0..10 {
                    model.save(dir.path()).unwrap();
                }
            });
        }
    });
    let loaded = Model::load(dir.path()).unwrap();
    assert_eq!(loaded.n_features(), 20);
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut expected = vec![CONFIG_FILE.to_string(), WEIGHTS_FILE.to_string()];
    expected.sort();
    assert_eq!(names, expected);
}
