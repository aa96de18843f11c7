//! Backpressure between the caller and the pipeline threads.
//!
//! The caller's `write` never blocks and never reorders: every chunk is queued at once. Memory is
//! bounded because the caller waits for "drain" (queued bytes at or below the high-water mark)
//! before writing more, the same contract as Node's `writable.write()` returning `false`.
//! A chunk is shared by the hasher and the decoder; its bytes leave the queue when both are done
//! with it (the last `Arc` drops).

use std::sync::{Arc, Condvar, Mutex};

use crate::error::ImageError;

pub type DrainCallback = Box<dyn FnOnce(Result<(), ImageError>) + Send>;

struct GateState {
    queued: usize,
    failure: Option<ImageError>,
    waiters: Vec<DrainCallback>,
}

pub struct Gate {
    high_water: usize,
    state: Mutex<GateState>,
    changed: Condvar,
}

impl Gate {
    pub fn new(high_water: usize) -> Arc<Gate> {
        Arc::new(Gate {
            high_water,
            state: Mutex::new(GateState { queued: 0, failure: None, waiters: Vec::new() }),
            changed: Condvar::new(),
        })
    }

    /// Accounts for a new chunk. Returns whether the caller may write again without waiting.
    pub fn admit(self: &Arc<Self>, data: Vec<u8>) -> Result<(Arc<Chunk>, bool), ImageError> {
        let mut st = self.state.lock().unwrap();
        if let Some(f) = &st.failure {
            return Err(f.clone());
        }
        st.queued += data.len();
        let ready = st.queued <= self.high_water;
        drop(st);
        Ok((Arc::new(Chunk { data, gate: Arc::clone(self) }), ready))
    }

    /// The first failure wins; it wakes every waiter with the error.
    pub fn fail(&self, err: ImageError) {
        let waiters = {
            let mut st = self.state.lock().unwrap();
            if st.failure.is_none() {
                st.failure = Some(err.clone());
            }
            std::mem::take(&mut st.waiters)
        };
        self.changed.notify_all();
        let e = self.failure().unwrap_or(err);
        for w in waiters {
            w(Err(e.clone()));
        }
    }

    pub fn failure(&self) -> Option<ImageError> {
        self.state.lock().unwrap().failure.clone()
    }

    /// Calls `cb` once the queue is at or below the high-water mark (now, if it already is), or
    /// with the failure if the pipeline fails first.
    pub fn on_drain(&self, cb: DrainCallback) {
        let mut st = self.state.lock().unwrap();
        if let Some(f) = &st.failure {
            let f = f.clone();
            drop(st);
            return cb(Err(f));
        }
        if st.queued <= self.high_water {
            drop(st);
            return cb(Ok(()));
        }
        st.waiters.push(cb);
    }

    /// Blocking form of `on_drain`, for Rust callers.
    pub fn wait_drain(&self) -> Result<(), ImageError> {
        let mut st = self.state.lock().unwrap();
        loop {
            if let Some(f) = &st.failure {
                return Err(f.clone());
            }
            if st.queued <= self.high_water {
                return Ok(());
            }
            st = self.changed.wait(st).unwrap();
        }
    }

    fn release(&self, n: usize) {
        let waiters = {
            let mut st = self.state.lock().unwrap();
            st.queued -= n;
            if st.queued > self.high_water || st.waiters.is_empty() {
                None
            } else {
                Some(std::mem::take(&mut st.waiters))
            }
        };
        self.changed.notify_all();
        for w in waiters.into_iter().flatten() {
            w(Ok(()));
        }
    }
}

/// One chunk of compressed input, shared by the hasher and the decoder.
pub struct Chunk {
    pub data: Vec<u8>,
    gate: Arc<Gate>,
}

impl Drop for Chunk {
    fn drop(&mut self) {
        self.gate.release(self.data.len());
    }
}
