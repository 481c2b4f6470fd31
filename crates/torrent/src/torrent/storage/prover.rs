//! The prover thread: each completed piece read back from the disk and
//! hashed, off librqbit's runtime.

use super::*;

/// How many bytes of pieces may wait for the prover thread; beyond it a
/// piece is proven inline (bounded, and still in the page cache).
pub(super) const PROVER_QUEUE: usize = 64 << 20;

/// A piece for the prover thread to read back.
pub(super) struct Job {
    pub(super) files: Arc<Files>,
    pub(super) shape: Arc<Shape>,
    pub(super) proof: Arc<Proof>,
    pub(super) piece: ValidPieceIndex,
}

impl Job {
    pub(super) fn len(&self) -> usize {
        self.shape.lengths.piece_length(self.piece) as usize
    }

    pub(super) fn run(self) {
        let read_back = self.shape.read_back(&self.files, self.piece);
        if let (Ok(()), Some(b)) = (&read_back, &self.shape.behind) {
            b.proven(&self.shape, &self.files, self.piece);
        }
        self.proof.record(self.piece, read_back);
        self.proof.queued.fetch_sub(1, Ordering::AcqRel);
    }
}

/// goat's prover thread, shared by every torrent of a session. It ends
/// when the last storage and factory holding it are gone.
#[derive(Clone)]
pub(super) struct Prover {
    pub(super) jobs: std::sync::mpsc::Sender<Job>,
    /// Bytes of the pieces queued.
    pub(super) queued: Arc<AtomicUsize>,
}

impl Prover {
    pub(super) fn start() -> Prover {
        let (jobs, rx) = std::sync::mpsc::channel::<Job>();
        let queued = Arc::new(AtomicUsize::new(0));
        let q = queued.clone();
        let started = std::thread::Builder::new().name("goat-prover".into()).spawn(move || {
            while let Ok(job) = rx.recv() {
                let len = job.len();
                job.run();
                q.fetch_sub(len, Ordering::AcqRel);
            }
        });
        if let Err(e) = started {
            tracing::debug!(target: "goat", "no prover thread ({e}): pieces are proven inline");
        }
        Prover { jobs, queued }
    }

    /// Prove `job`'s piece on the prover thread, or here when the queue is
    /// full or the thread is gone.
    pub(super) fn prove(&self, job: Job) {
        let len = job.len();
        job.proof.queued.fetch_add(1, Ordering::AcqRel);
        if self.queued.fetch_add(len, Ordering::AcqRel) + len > PROVER_QUEUE {
            self.queued.fetch_sub(len, Ordering::AcqRel);
            return job.run();
        }
        if let Err(std::sync::mpsc::SendError(job)) = self.jobs.send(job) {
            self.queued.fetch_sub(len, Ordering::AcqRel);
            job.run();
        }
    }
}
