//! Shared by the fuzz harness and the path-and-stream proptest: random
//! mutations of a valid file.

use proptest::prelude::*;

/// One change to a file's bytes (positions taken modulo its length).
#[derive(Clone, Debug)]
enum Mutation {
    Flip(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Truncate(usize),
}

/// Files from `seed`, each changed by 1 to `max` mutations: bytes
/// flipped, bytes of `inserted` inserted, bytes deleted, the file cut short.
pub fn mutated(
    seed: impl Strategy<Value = Vec<u8>>,
    inserted: &'static [u8],
    max: usize,
) -> impl Strategy<Value = Vec<u8>> {
    let mutation = prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        (any::<usize>(), prop::sample::select(inserted)).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<usize>().prop_map(Mutation::Delete),
        any::<usize>().prop_map(Mutation::Truncate),
    ];
    (seed, prop::collection::vec(mutation, 1..max)).prop_map(|(mut bytes, ms)| {
        for m in ms {
            let n = bytes.len().max(1);
            match m {
                Mutation::Flip(i, b) if !bytes.is_empty() => bytes[i % n] = b,
                Mutation::Insert(i, b) => bytes.insert(i % (bytes.len() + 1), b),
                Mutation::Delete(i) if !bytes.is_empty() => {
                    bytes.remove(i % n);
                }
                Mutation::Truncate(i) => bytes.truncate(i % (n + 1)),
                _ => {}
            }
        }
        bytes
    })
}
