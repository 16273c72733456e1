//! Batch scoring throughput (scale, encode, policy probability) and the
//! latency of scoring one flow.

use std::hint::black_box;

use autoencoders::{Autoencoder, Model, ModelConfig, ModelKind};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flowdata::synth::{SynthConfig, generate};
use flowdata::{Bounds, FeatureKind, ScalingMethod};
use nids::config::reference_ppo_config;
use nids::policy::{LatentScaler, PolicyInput};
use nids::stages::Scorer;
use ppo::Ppo;
use rlenv::{FlowDetectionEnv, FlowEnvConfig, VecEnv};

fn scoring(c: &mut Criterion) {
    let frame = generate(&SynthConfig {
        rows: 8_192,
        ..SynthConfig::default()
    });
    let names: Vec<String> = frame
        .schema()
        .features
        .iter()
        .filter(|f| f.kind != FeatureKind::Categorical)
        .map(|f| f.name.clone())
        .collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let frame = frame.select_features(&names).expect("features");
    let bounds =
        Bounds::fit(frame.schema(), frame.features(), ScalingMethod::default()).expect("bounds");
    let kind = ModelKind::Deep;
    let model = Model::new(&ModelConfig::default_for(kind), frame.n_features(), 1).expect("model");
    let scaled = bounds.transform(frame.features()).expect("scaled").data;
    let z = model.encode_batch(scaled.view()).expect("latents");
    let scaler = LatentScaler::fit(PolicyInput::Latent, z.view());
    let env = VecEnv::new(vec![
        FlowDetectionEnv::new(z, frame.binary_labels(), FlowEnvConfig::default()).expect("env"),
    ])
    .expect("vec env");
    let policy = Ppo::new(reference_ppo_config(), &env, 1).expect("policy");
    let scorer = Scorer {
        bounds: &bounds,
        model: &model,
        scaler: &scaler,
        policy: &policy,
    };
    let raw = frame.features().to_owned();
    let mut group = c.benchmark_group("scoring");
    group.throughput(Throughput::Elements(raw.nrows() as u64));
    group.bench_function("batch_8192_flows_deep", |b| {
        b.iter(|| black_box(scorer.score(black_box(raw.view())).expect("score")))
    });
    group.throughput(Throughput::Elements(1));
    let one = raw.slice(ndarray::s![0..1, ..]).to_owned();
    group.bench_function("one_flow_latency_deep", |b| {
        b.iter(|| black_box(scorer.score(black_box(one.view())).expect("score")))
    });
    group.finish();
}

criterion_group!(benches, scoring);
criterion_main!(benches);
