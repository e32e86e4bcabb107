//! The node series of a scrape: the listener copies its node table out a
//! slice per turn of its loop, so a scrape of a large fleet never holds
//! the socket back for long.

use std::io::Write;
use std::sync::Arc;

use super::Listener;
use crate::detector::NodeSamples;
use crate::metrics::nodes::NodeTable;

/// Nodes copied per turn of the loop for a scrape: a few milliseconds of
/// work at most, which the socket's buffer absorbs at full ingest.
const SLICE: usize = 4096;

/// A scrape's node samples, being copied a slice per turn.
#[derive(Default)]
pub(super) struct Sampling {
    samples: NodeSamples,
    next: usize,
}

impl<W: Write> Listener<W> {
    /// One turn's share of a scrape: the next slice of the node table,
    /// and the whole table handed to the scrape once copied.
    pub(super) fn step_sampling(&mut self) {
        let Some(metrics) = &self.metrics else {
            return;
        };
        if self.sampling.is_none() && !metrics.nodes_wanted() {
            return;
        }
        let sampling = self.sampling.get_or_insert_with(Sampling::default);
        sampling.next = self
            .detector
            .sample_nodes(sampling.next, SLICE, &mut sampling.samples);
        if sampling.next < self.detector.len() {
            return;
        }
        let done = self.sampling.take().unwrap_or_default();
        metrics.answer_nodes(NodeTable {
            nodes: Arc::new(done.samples),
            responders: None,
        });
    }
}
