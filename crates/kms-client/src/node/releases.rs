//! Reading the nodes' release logs (docs 0012 §12): every entry of each node's log, checked to
//! form one hash chain from its first entry to the head the node reports.

use super::*;
use kms_api::node::{ReleasesAnswer, MAX_RELEASES_PAGE};
use kms_api::releases::{check_chain, ChainBreak, ReleaseEntry};

/// One node's release log as read.
#[derive(Clone, Debug)]
pub struct ReleaseLog {
    /// The node's URL.
    pub url: String,
    /// Its entries (all apps), in order, or why they could not be read or do not check out.
    pub log: std::result::Result<Vec<ReleaseEntry>, Fault>,
}

impl ReleaseLog {
    /// The entries for `app_id`.
    pub fn for_app<'a>(&'a self, app_id: &'a str) -> impl Iterator<Item = &'a ReleaseEntry> + 'a {
        self.log
            .iter()
            .flatten()
            .filter(move |e| e.app_id == app_id)
    }
}

/// At most this many pages per node (a million entries), so a node cannot keep a reader busy.
const MAX_PAGES: u64 = 1000;

impl AsyncNodeClient {
    /// Reads every node's whole release log at once and checks each: consecutive from entry 1,
    /// each entry naming the hash of the one before, ending at the head the node reports.
    pub async fn releases(&self) -> Vec<ReleaseLog> {
        let jobs = self
            .urls
            .iter()
            .map(|url| {
                let (http, url) = (self.http.clone(), url.clone());
                let job: Job<Vec<ReleaseEntry>> =
                    Box::pin(async move { read_log(&http, &url).await });
                Some(job)
            })
            .collect();
        let answers = self.gather(jobs, false, |_| false).await;
        self.urls
            .iter()
            .zip(answers)
            .map(|(url, a)| ReleaseLog {
                url: url.clone(),
                log: a.unwrap_or(Err(Fault::BadAnswer("the request task failed".into()))),
            })
            .collect()
    }
}

async fn read_log(
    http: &reqwest::Client,
    url: &str,
) -> std::result::Result<Vec<ReleaseEntry>, Fault> {
    let bad = |why: String| Fault::BadAnswer(why);
    let mut entries: Vec<ReleaseEntry> = Vec::new();
    let mut head = None;
    for _ in 0..MAX_PAGES {
        let from = entries.last().map_or(1, |e| e.seq + 1);
        let request = http.get(format!(
            "{url}/v1/releases?from={from}&limit={MAX_RELEASES_PAGE}"
        ));
        let value = answer(request).await.map_err(Fault::from_error)?;
        let page: ReleasesAnswer =
            serde_json::from_value(value).map_err(|e| bad(format!("releases: {e}")))?;
        if let Some(h) = &page.head {
            let hash = hex_of("head.hash", &h.hash)?;
            let hash: [u8; 32] = hash
                .try_into()
                .map_err(|_| bad("head.hash is not 32 bytes".into()))?;
            head = Some((h.seq, hash));
        }
        let n = page.entries.len();
        for e in &page.entries {
            let bytes = hex_of("entry", e)?;
            entries.push(
                ReleaseEntry::decode(&bytes).map_err(|_| bad("an entry does not decode".into()))?,
            );
        }
        if (n as u64) < MAX_RELEASES_PAGE {
            break;
        }
    }
    let last = check_chain(&entries, head).map_err(|b| match b {
        ChainBreak::Broken { seq } => bad(format!("the log breaks at entry {seq}")),
        ChainBreak::HeadMismatch { seq } => bad(format!("entry {seq} does not hash to the head")),
    })?;
    match (head, last, entries.last()) {
        (None, None, None) => Ok(entries),
        (Some((seq, hash)), Some(got), Some(e)) if e.seq == seq && got == hash => Ok(entries),
        _ => Err(bad(
            "the log does not end at the head the node reports".into()
        )),
    }
}
