//! Group commit: many callers, one write transaction (one `fsync`) for all of them. A caller
//! queues its job and takes the writer lock; whoever holds it commits every job queued by then,
//! and the callers behind it find their answer already there. No thread of its own, so it works
//! from any blocking context (a `spawn_blocking` task, a plain thread).

use std::sync::{Arc, Mutex, OnceLock};

struct Slot<J, A> {
    job: J,
    answer: OnceLock<Result<A, String>>,
}

/// A queue of jobs `J` answered with `A`.
pub struct GroupCommit<J, A> {
    pending: Mutex<Vec<Arc<Slot<J, A>>>>,
    /// Held by the caller that commits.
    writer: Mutex<()>,
}

impl<J, A> Default for GroupCommit<J, A> {
    fn default() -> Self {
        Self {
            pending: Mutex::new(Vec::new()),
            writer: Mutex::new(()),
        }
    }
}

/// Why a job got no answer: its batch's commit failed (the text of that error), or a lock was
/// poisoned by a panicking committer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CommitError(pub String);

impl<J, A: Clone> GroupCommit<J, A> {
    /// Queues `job` and returns its answer once the batch that holds it is committed.
    /// `commit` gets the batch in queue order and returns one answer per job, in order, or an
    /// error that becomes every job's answer (nothing of the batch was written).
    pub fn run<E: std::fmt::Display>(
        &self,
        job: J,
        commit: impl FnOnce(&[&J]) -> Result<Vec<A>, E>,
    ) -> Result<A, CommitError> {
        let poisoned = || CommitError("the commit queue's lock is poisoned".into());
        let slot = Arc::new(Slot {
            job,
            answer: OnceLock::new(),
        });
        self.pending
            .lock()
            .map_err(|_| poisoned())?
            .push(slot.clone());
        let _writer = self.writer.lock().map_err(|_| poisoned())?;
        if slot.answer.get().is_none() {
            let batch = std::mem::take(&mut *self.pending.lock().map_err(|_| poisoned())?);
            let jobs: Vec<&J> = batch.iter().map(|s| &s.job).collect();
            match commit(&jobs) {
                Ok(answers) if answers.len() == batch.len() => {
                    for (s, a) in batch.iter().zip(answers) {
                        let _ = s.answer.set(Ok(a));
                    }
                }
                Ok(_) => {
                    for s in &batch {
                        let _ = s
                            .answer
                            .set(Err("a commit answered the wrong count".into()));
                    }
                }
                Err(e) => {
                    let text = e.to_string();
                    for s in &batch {
                        let _ = s.answer.set(Err(text.clone()));
                    }
                }
            }
        }
        match slot.answer.get() {
            Some(Ok(a)) => Ok(a.clone()),
            Some(Err(e)) => Err(CommitError(e.clone())),
            None => Err(CommitError("no answer".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn concurrent_callers_share_commits_and_get_their_own_answers() {
        let group = Arc::new(GroupCommit::<u64, u64>::default());
        let committed = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..16u64)
            .map(|i| {
                let (group, commits) = (group.clone(), committed.clone());
                std::thread::spawn(move || {
                    group
                        .run(i, |batch| {
                            commits.fetch_add(batch.len(), Ordering::SeqCst);
                            std::thread::sleep(std::time::Duration::from_millis(5));
                            Ok::<_, String>(batch.iter().map(|j| **j * 10).collect())
                        })
                        .unwrap()
                })
            })
            .collect();
        let answers: Vec<u64> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        assert_eq!(answers, (0..16u64).map(|i| i * 10).collect::<Vec<_>>());
        // Every job was committed exactly once.
        assert_eq!(committed.load(Ordering::SeqCst), 16);
    }

    #[test]
    fn a_failed_commit_is_every_jobs_error() {
        let group = GroupCommit::<u8, bool>::default();
        let e = group
            .run(1, |_| Err::<Vec<bool>, _>("disk full"))
            .unwrap_err();
        assert_eq!(e, CommitError("disk full".into()));
        // The queue goes on.
        assert!(group
            .run(2, |b| Ok::<_, String>(vec![true; b.len()]))
            .unwrap());
        let e = group.run(3, |_| Ok::<_, String>(vec![])).unwrap_err();
        assert!(e.0.contains("wrong count"), "{e}");
    }
}
