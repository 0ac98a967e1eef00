//! Keyset pagination shared by every listing.

use chrono::{DateTime, Utc};

/// A position in a keyset-paginated list: the last item's creation time and id.
/// Pages stay stable while items are inserted concurrently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageCursor {
    pub created_at: DateTime<Utc>,
    pub id: uuid::Uuid,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<PageCursor>,
}
