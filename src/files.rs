//! Files and directories the registry creates are its own: directories 0700, files
//! 0600, whatever the umask says. The database, its WAL and the key file hold the
//! registry's data; no other account on the machine has reason to read them.

use std::io;
use std::path::Path;

/// Creates `dir` and any missing parents, each new one private to the owner. An
/// existing directory keeps its permissions (the operator chose them).
pub fn create_private_dir_all(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Creates an empty file private to the owner unless it exists. SQLite gives the
/// WAL and shared-memory files the database file's permissions, so creating the
/// database file this way before SQLite opens it keeps all three private.
pub fn create_private_file(path: &Path) -> io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}
