//! Stepping allocates nothing: a counting global allocator watches the
//! stepping loops of FlowDetectionEnv, CartPole, the wrappers and VecEnv.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use ndarray::Array2;
use rlenv::{
    CartPole, EpisodeStatistics, FlatEnv, FlowDetectionEnv, FlowEnvConfig, Sampling, TimeLimit,
    VecEnv,
};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; only counts on the side.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made by this thread while running `f`.
fn allocations(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

fn flow_env(sampling: Sampling) -> FlowDetectionEnv {
    let latents = Array2::from_shape_fn((500, 8), |(i, j)| (i + j) as f32);
    let labels = (0..500).map(|i| u8::from(i % 3 == 0)).collect();
    let config = FlowEnvConfig {
        episode_length: 64,
        sampling,
        ..Default::default()
    };
    FlowDetectionEnv::new(latents, labels, config).unwrap()
}

fn drive(env: &mut impl FlatEnv, steps: usize) -> usize {
    let mut obs = vec![0.0; env.obs_dim()];
    env.reset_into(Some(1), &mut obs);
    allocations(|| {
        for t in 0..steps {
            if env.step_into(t % 2, &mut obs).done() {
                env.reset_into(None, &mut obs);
            }
        }
    })
}

#[test]
fn stepping_does_not_allocate() {
    for sampling in [Sampling::Shuffled, Sampling::Sequential, Sampling::Balanced] {
        // 5,000 steps: several passes over the 500 rows (re-shuffles included).
        assert_eq!(drive(&mut flow_env(sampling), 5000), 0, "{sampling:?}");
    }
    assert_eq!(drive(&mut CartPole::new(), 5000), 0);
    let mut wrapped = EpisodeStatistics::new(TimeLimit::new(CartPole::new(), 50).unwrap());
    assert_eq!(drive(&mut wrapped, 5000), 0);
    assert!(wrapped.episode_count() > 100);

    let mut venv = VecEnv::new((0..16).map(|_| flow_env(Sampling::Shuffled)).collect()).unwrap();
    venv.reset(Some(0));
    let actions: Vec<usize> = (0..16).map(|i| i % 2).collect();
    let mut finished = 0;
    let count = allocations(|| {
        for _ in 0..1000 {
            finished += venv.step(&actions).unwrap().episodes.len();
        }
    });
    assert_eq!(count, 0);
    assert_eq!(finished, 16 * (1000 / 64));

    // The counter does see allocations.
    assert_eq!(allocations(|| drop(std::hint::black_box(vec![1u8; 10]))), 1);
}
