//! Atomic file replacement: the bytes go to a temporary file in the target's
//! directory, which is synced and renamed over the target, and the directory
//! is synced. A reader (or a run killed mid-write) sees the old file or the
//! new one, never part of either.

use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};

pub(crate) fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    let file = path.display().to_string();
    let fail = |at: &str, e: std::io::Error| Error::Data {
        file: file.clone(),
        at: at.to_string(),
        msg: e.to_string(),
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    // One temporary name per target: what a killed writer leaves is
    // overwritten by the next save, not accumulated.
    let tmp = dir.join(format!(".{name}.tmp"));
    let written = (|| {
        let mut f = std::fs::File::create(&tmp).map_err(|e| fail("create", e))?;
        f.write_all(bytes).map_err(|e| fail("write", e))?;
        f.sync_all().map_err(|e| fail("sync", e))
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    if let Err(e) = std::fs::rename(&tmp, path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(fail("rename", e));
    }
    // The rename itself is durable once the directory is synced (Linux; other
    // systems may not open directories, which then keep their own order).
    if let Ok(d) = std::fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}
