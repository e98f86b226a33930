//! Reading the nodes' release logs (docs 0012 §12): each node's whole log, checked page by page
//! to form one hash chain from entry 1 to the head the node reports, keeping one app's entries.

use super::*;
use kms_api::node::{ReleasesAnswer, MAX_RELEASES_PAGE};
use kms_api::releases::ReleaseEntry;

/// One node's release log as read.
#[derive(Clone, Debug)]
pub struct ReleaseLog {
    /// The node's URL.
    pub url: String,
    /// The app's entries, or why the log could not be read or does not check out.
    pub log: std::result::Result<AppReleases, Fault>,
}

/// An app's entries in one node's log, which checked out as a whole.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppReleases {
    /// The app's entries, in order.
    pub entries: Vec<ReleaseEntry>,
    /// The log's head (seq, hash) as the node reported it and the entries reached it; None
    /// while the log is empty.
    pub head: Option<(u64, [u8; 32])>,
}

/// At most this many pages per node (a million entries).
const MAX_PAGES: u64 = 1000;
/// The whole read of one node's log takes at most this long.
const LOG_READ_DEADLINE: Duration = Duration::from_secs(120);

impl AsyncNodeClient {
    /// Reads every node's whole release log at once and checks each: consecutive from entry 1,
    /// each entry naming the hash of the one before, ending at the head the node reports. Keeps
    /// `app_id`'s entries.
    pub async fn releases(&self, app_id: &str) -> Vec<ReleaseLog> {
        let jobs = self
            .urls
            .iter()
            .map(|url| {
                let (http, url, app) = (self.http.clone(), url.clone(), app_id.to_string());
                let job: Job<AppReleases> = Box::pin(async move {
                    tokio::time::timeout(LOG_READ_DEADLINE, read_log(&http, &url, &app))
                        .await
                        .map_err(|_| Fault::Unreachable("reading the log took too long".into()))?
                });
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
    app_id: &str,
) -> std::result::Result<AppReleases, Fault> {
    let bad = |why: String| Fault::BadAnswer(why);
    let mut mine = Vec::new();
    // The last entry checked: (seq, hash).
    let mut last: Option<(u64, [u8; 32])> = None;
    for _ in 0..MAX_PAGES {
        let from = match last {
            None => 1,
            Some((seq, _)) => seq
                .checked_add(1)
                .ok_or_else(|| bad("an entry's seq is at the limit".into()))?,
        };
        let request = http.get(format!(
            "{url}/v1/releases?from={from}&limit={MAX_RELEASES_PAGE}"
        ));
        let value = answer(request).await.map_err(Fault::from_error)?;
        let page: ReleasesAnswer =
            serde_json::from_value(value).map_err(|e| bad(format!("releases: {e}")))?;
        if page.entries.len() as u64 > MAX_RELEASES_PAGE {
            return Err(bad("a page longer than asked".into()));
        }
        let head = match &page.head {
            None => None,
            Some(h) => {
                let hash: [u8; 32] = hex_of("head.hash", &h.hash)?
                    .try_into()
                    .map_err(|_| bad("head.hash is not 32 bytes".into()))?;
                Some((h.seq, hash))
            }
        };
        let full = page.entries.len() as u64 == MAX_RELEASES_PAGE;
        for (i, text) in page.entries.iter().enumerate() {
            let e = ReleaseEntry::decode(&hex_of("entry", text)?)
                .map_err(|_| bad("an entry does not decode".into()))?;
            // Each page starts where it was asked to, and each entry follows the one before:
            // a node cannot leave out the start of its log, or any stretch of it.
            let follows = match last {
                None => e.seq == 1 && e.prev == [0; 32],
                Some((seq, hash)) => Some(e.seq) == seq.checked_add(1) && e.prev == hash,
            };
            if !follows || (i == 0 && e.seq != from) {
                return Err(bad(format!("the log breaks at entry {}", e.seq)));
            }
            last = Some((e.seq, e.hash()));
            if e.app_id == app_id {
                mine.push(e);
            }
        }
        if !full {
            // The last page: the log must end at the head this page reports.
            return if last == head {
                Ok(AppReleases {
                    entries: mine,
                    head,
                })
            } else {
                Err(bad(
                    "the log does not end at the head the node reports".into()
                ))
            };
        }
    }
    Err(bad(format!(
        "the log is longer than this client reads whole ({} entries)",
        MAX_PAGES * MAX_RELEASES_PAGE
    )))
}
