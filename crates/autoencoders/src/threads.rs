//! Thread settings for candle's CPU backend.

/// Environment settings for candle's CPU threading that suit these models,
/// for a program to apply at its very start, before it starts any thread:
///
/// - `RAYON_NUM_THREADS` = the available cores: the threads of the matrix
///   products (and of rayon's global pool, which runs inference chunks in
///   parallel). While it is unset, candle 0.11 works the count out again
///   on every matrix product, which on Linux means parsing
///   `/proc/cpuinfo` (tens of microseconds each time, a large share of a
///   training step at these sizes);
/// - `CANDLE_NUM_THREADS` = 1: candle's own pool for large elementwise
///   operations busy-waits on a barrier, which costs more than it gains
///   for these models on a few cores, and the batch helpers already run
///   chunks in parallel.
///
/// Variables that are already set are left out, so the user's environment
/// wins. Setting variables is `unsafe` in a multi-threaded program, hence
/// this returns the pairs rather than setting them:
///
/// ```no_run
/// // At the top of `main`, before any other thread exists:
/// for (key, value) in autoencoders::recommended_thread_env() {
///     // SAFETY: no other thread exists yet.
///     unsafe { std::env::set_var(key, value) };
/// }
/// ```
pub fn recommended_thread_env() -> Vec<(&'static str, String)> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    [
        ("RAYON_NUM_THREADS", cores.to_string()),
        ("CANDLE_NUM_THREADS", "1".to_string()),
    ]
    .into_iter()
    .filter(|(key, _)| std::env::var_os(key).is_none())
    .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn recommends_only_unset_variables() {
        let env = super::recommended_thread_env();
        for (key, value) in &env {
            assert!(std::env::var_os(key).is_none());
            assert!(
                value.parse::<usize>().is_ok_and(|n| n >= 1),
                "{key}={value}"
            );
        }
        assert!(env.len() <= 2);
    }
}
