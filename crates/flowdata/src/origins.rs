//! Where each row of a frame came from: its position in the input, and the
//! identifier columns of the input, kept verbatim.

use std::borrow::Cow;

use arrow::array::{Array, LargeStringArray, LargeStringBuilder};

use crate::schema::IDENTIFIER_COLUMNS;

/// Where each row of a [`crate::FlowFrame`] came from, kept when
/// [`crate::ReadOptions::origins`] is set (and by the Parquet and Arrow IPC
/// readers when the file has identifier columns): the row's position in the
/// input, and the input's identifier columns ([`IDENTIFIER_COLUMNS`]) as
/// text, column by column.
#[derive(Clone, Debug, PartialEq)]
pub struct Origins {
    rows: Vec<u64>,
    identifiers: Vec<(&'static str, LargeStringArray)>,
}

impl Origins {
    /// Per row: its 0-based position among the data rows read (all inputs
    /// in the order given; rows that were not kept are counted, blank lines
    /// are not), so that a row can be joined back to its input.
    pub fn rows(&self) -> &[u64] {
        &self.rows
    }

    /// The identifier columns the input had, in [`IDENTIFIER_COLUMNS`]
    /// order: the canonical name, and per row the cell as written (null for
    /// a row of a file without that column).
    pub fn identifiers(&self) -> &[(&'static str, LargeStringArray)] {
        &self.identifiers
    }

    /// The origins of the rows at `rows`, in that order.
    pub(crate) fn select(&self, rows: &[usize]) -> Origins {
        Origins {
            rows: rows.iter().map(|&r| self.rows[r]).collect(),
            identifiers: self
                .identifiers
                .iter()
                .map(|(name, col)| {
                    let picked = rows
                        .iter()
                        .map(|&r| col.is_valid(r).then(|| col.value(r)))
                        .collect();
                    (*name, picked)
                })
                .collect(),
        }
    }
}

/// Builds [`Origins`] one row at a time. An identifier column starts when
/// the first row that has it arrives (earlier rows get nulls), and rows
/// without it get nulls after.
#[derive(Default)]
pub(crate) struct OriginsBuilder {
    rows: Vec<u64>,
    columns: [Option<LargeStringBuilder>; IDENTIFIER_COLUMNS.len()],
}

impl OriginsBuilder {
    /// Append a row: its position and its identifier cells (index into
    /// [`IDENTIFIER_COLUMNS`], at most one cell per index, and the text).
    pub(crate) fn push<'a>(
        &mut self,
        row: u64,
        cells: impl Iterator<Item = (usize, Cow<'a, str>)>,
    ) {
        let n = self.rows.len();
        let mut filled = [false; IDENTIFIER_COLUMNS.len()];
        for (slot, text) in cells {
            let column = self.columns[slot].get_or_insert_with(|| {
                let mut b = LargeStringBuilder::new();
                b.append_nulls(n);
                b
            });
            column.append_value(text);
            filled[slot] = true;
        }
        for (column, filled) in self.columns.iter_mut().zip(filled) {
            if let (Some(c), false) = (column, filled) {
                c.append_null();
            }
        }
        self.rows.push(row);
    }

    /// The origins of the rows pushed so far; the builder starts afresh.
    pub(crate) fn take(&mut self) -> Origins {
        let identifiers = self
            .columns
            .iter_mut()
            .zip(IDENTIFIER_COLUMNS)
            .filter_map(|(c, name)| c.take().map(|mut c| (name, c.finish())))
            .collect();
        Origins {
            rows: std::mem::take(&mut self.rows),
            identifiers,
        }
    }
}
