//! The key file: master key-encryption keys and pseudonym keys, each versioned.
//!
//! TOML on disk, mode 0600, never inside the database (ASVS 13.3). Retired versions
//! keep their number and dates but lose their key material.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::{CryptoError, Secret32};

const FORMAT: u32 = 1;

/// Which family of keys.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    strum::IntoStaticStr,
    strum::EnumString,
)]
#[strum(serialize_all = "snake_case")]
pub enum KeyKind {
    /// Master key-encryption keys: wrap the per-subject data keys.
    Master,
    /// Pseudonym keys: HMAC pseudonyms of identities (via HKDF per domain).
    Pseudonym,
}

impl KeyKind {
    /// The name used in the database and on the command line.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Problems with the key file. Messages name the file and what to do.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// No key file at the path.
    #[error(
        "key file {0} does not exist; create one with `registry init` (or set REGISTRY_KEY_FILE)"
    )]
    Missing(PathBuf),
    /// A key file exists where a new one was to be created.
    #[error("key file {0} already exists; refusing to overwrite keys that may protect data")]
    Exists(PathBuf),
    /// The file is readable by other users.
    #[error("key file {0} is readable by group or others; run `chmod 600` on it")]
    Permissions(PathBuf),
    /// Reading or writing failed.
    #[error("key file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The content is not a valid key file.
    #[error("key file {path} is not valid: {problem}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// A requested change is not allowed.
    #[error("{0}")]
    Refused(String),
    /// The RNG failed while generating a key.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

/// One version of a key.
#[derive(Debug, Clone)]
pub struct KeyVersion {
    /// When it was created (RFC 3339, UTC).
    pub created: String,
    /// When it was retired, if it was.
    pub retired: Option<String>,
    /// The key material; `None` once retired.
    pub secret: Option<Secret32>,
}

/// All versions of one kind of key and which one new data uses.
#[derive(Debug, Clone)]
pub struct KeySet {
    /// The version used for new encryptions / pseudonyms.
    pub active: u32,
    /// Every version ever created, retired ones without material.
    pub versions: BTreeMap<u32, KeyVersion>,
}

impl KeySet {
    fn generate() -> Result<Self, CryptoError> {
        let mut versions = BTreeMap::new();
        versions.insert(
            1,
            KeyVersion {
                created: crate::clock::now_rfc3339(),
                retired: None,
                secret: Some(Secret32::random()?),
            },
        );
        Ok(Self {
            active: 1,
            versions,
        })
    }

    /// Versions whose key material is still held.
    pub fn available(&self) -> impl Iterator<Item = (u32, &Secret32)> {
        self.versions
            .iter()
            .filter_map(|(v, k)| k.secret.as_ref().map(|s| (*v, s)))
    }
}

/// The whole key file.
#[derive(Clone)]
pub struct KeyFile {
    /// Master key-encryption keys.
    pub master: KeySet,
    /// Pseudonym keys.
    pub pseudonym: KeySet,
    /// Ed25519 key (PKCS#8) that signs audit checkpoints.
    pub audit_signing_key: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for KeyFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyFile")
            .field("master", &self.master)
            .field("pseudonym", &self.pseudonym)
            .field("audit_signing_key", &"[redacted]")
            .finish()
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Disk {
    format: u32,
    audit_signing_key: String,
    master: DiskSet,
    pseudonym: DiskSet,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DiskSet {
    active: u32,
    keys: Vec<DiskKey>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DiskKey {
    version: u32,
    created: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retired: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
}

/// A new Ed25519 signing key (PKCS#8 document) for the audit log's checkpoints.
fn new_signing_key() -> Result<Vec<u8>, CryptoError> {
    let rng = ring::rand::SystemRandom::new();
    ring::signature::Ed25519KeyPair::generate_pkcs8(&rng)
        .map(|doc| doc.as_ref().to_vec())
        .map_err(|_| CryptoError::Rng)
}

impl KeyFile {
    /// New keys: version 1 of each, from the OS RNG.
    pub fn generate() -> Result<Self, KeyFileError> {
        Ok(Self {
            master: KeySet::generate()?,
            pseudonym: KeySet::generate()?,
            audit_signing_key: Zeroizing::new(new_signing_key()?),
        })
    }

    /// The key set of one kind.
    pub fn set(&self, kind: KeyKind) -> &KeySet {
        match kind {
            KeyKind::Master => &self.master,
            KeyKind::Pseudonym => &self.pseudonym,
        }
    }

    fn set_mut(&mut self, kind: KeyKind) -> &mut KeySet {
        match kind {
            KeyKind::Master => &mut self.master,
            KeyKind::Pseudonym => &mut self.pseudonym,
        }
    }

    /// Reads and validates a key file, refusing one that others can read.
    pub fn load(path: &Path) -> Result<Self, KeyFileError> {
        let io = |source| KeyFileError::Io {
            path: path.to_owned(),
            source,
        };
        let metadata = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(KeyFileError::Missing(path.to_owned()));
            }
            Err(e) => return Err(io(e)),
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            if metadata.permissions().mode() & 0o077 != 0 {
                return Err(KeyFileError::Permissions(path.to_owned()));
            }
        }
        #[cfg(not(unix))]
        let _ = metadata;
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(io)?);
        let invalid = |problem: String| KeyFileError::Invalid {
            path: path.to_owned(),
            problem,
        };
        // The TOML error may quote a line of the file (key material): keep only its kind.
        let disk: Disk = toml::from_str(&text)
            .map_err(|e| invalid(format!("not a key file ({})", e.message())))?;
        if disk.format != FORMAT {
            return Err(invalid(format!("unknown format {}", disk.format)));
        }
        let audit_signing_key = Zeroizing::new(
            B64.decode(&disk.audit_signing_key)
                .map_err(|_| invalid("audit_signing_key is not base64".into()))?,
        );
        if ring::signature::Ed25519KeyPair::from_pkcs8(&audit_signing_key).is_err() {
            return Err(invalid(
                "audit_signing_key is not an Ed25519 PKCS#8 key".into(),
            ));
        }
        Ok(Self {
            master: from_disk(disk.master, "master").map_err(invalid)?,
            pseudonym: from_disk(disk.pseudonym, "pseudonym").map_err(invalid)?,
            audit_signing_key,
        })
    }

    /// Writes a new key file (mode 0600); refuses to overwrite an existing one.
    pub fn create(&self, path: &Path) -> Result<(), KeyFileError> {
        if path.exists() {
            return Err(KeyFileError::Exists(path.to_owned()));
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::files::create_private_dir_all(dir).map_err(|source| KeyFileError::Io {
                path: dir.to_owned(),
                source,
            })?;
        }
        self.write_private(path)?;
        sync_directory_of(path)
    }

    /// Replaces the key file atomically (write a temporary file, then rename), and
    /// makes the rename itself durable.
    pub fn replace(&self, path: &Path) -> Result<(), KeyFileError> {
        let tmp = path.with_extension("keys.tmp");
        let _ = std::fs::remove_file(&tmp);
        self.write_private(&tmp)?;
        std::fs::rename(&tmp, path).map_err(|source| KeyFileError::Io {
            path: path.to_owned(),
            source,
        })?;
        sync_directory_of(path)
    }

    fn write_private(&self, path: &Path) -> Result<(), KeyFileError> {
        let io = |source| KeyFileError::Io {
            path: path.to_owned(),
            source,
        };
        let disk = Disk {
            format: FORMAT,
            audit_signing_key: B64.encode(self.audit_signing_key.as_slice()),
            master: to_disk(&self.master),
            pseudonym: to_disk(&self.pseudonym),
        };
        let text = Zeroizing::new(toml::to_string(&disk).map_err(|e| KeyFileError::Invalid {
            path: path.to_owned(),
            problem: e.to_string(),
        })?);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(path).map_err(io)?;
        file.write_all(b"# Registry keys. Back this file up offline; never commit it or store it in the database.\n")
            .map_err(io)?;
        file.write_all(text.as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)?;
        Ok(())
    }

    /// Adds a new version of one kind and makes it active; returns its number.
    pub fn add_version(&mut self, kind: KeyKind) -> Result<u32, KeyFileError> {
        let set = self.set_mut(kind);
        let next = set.versions.keys().max().copied().unwrap_or(0) + 1;
        set.versions.insert(
            next,
            KeyVersion {
                created: crate::clock::now_rfc3339(),
                retired: None,
                secret: Some(Secret32::random()?),
            },
        );
        set.active = next;
        Ok(next)
    }

    /// Retires a version: its key material is removed from the file.
    pub fn retire(&mut self, kind: KeyKind, version: u32) -> Result<(), KeyFileError> {
        let set = self.set_mut(kind);
        if set.active == version {
            return Err(KeyFileError::Refused(format!(
                "{} key version {version} is active; rotate to a new version first",
                kind.as_str()
            )));
        }
        let key = set.versions.get_mut(&version).ok_or_else(|| {
            KeyFileError::Refused(format!("no {} key version {version}", kind.as_str()))
        })?;
        key.secret = None;
        key.retired.get_or_insert_with(crate::clock::now_rfc3339);
        Ok(())
    }
}

fn from_disk(set: DiskSet, name: &str) -> Result<KeySet, String> {
    let mut versions = BTreeMap::new();
    for key in set.keys {
        let secret =
            match &key.secret {
                Some(text) => {
                    let bytes = Zeroizing::new(B64.decode(text).map_err(|_| {
                        format!("{name} key version {} is not base64", key.version)
                    })?);
                    let array: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
                        format!("{name} key version {} is not 32 bytes", key.version)
                    })?;
                    Some(Secret32::from_bytes(array))
                }
                None => None,
            };
        if secret.is_none() && key.retired.is_none() {
            return Err(format!(
                "{name} key version {} has no key material and is not retired",
                key.version
            ));
        }
        if versions
            .insert(
                key.version,
                KeyVersion {
                    created: key.created,
                    retired: key.retired,
                    secret,
                },
            )
            .is_some()
        {
            return Err(format!("{name} key version {} appears twice", key.version));
        }
    }
    match versions.get(&set.active) {
        Some(k) if k.secret.is_some() => Ok(KeySet {
            active: set.active,
            versions,
        }),
        _ => Err(format!(
            "active {name} key version {} is missing or retired",
            set.active
        )),
    }
}

fn to_disk(set: &KeySet) -> DiskSet {
    DiskSet {
        active: set.active,
        keys: set
            .versions
            .iter()
            .map(|(version, key)| DiskKey {
                version: *version,
                created: key.created.clone(),
                retired: key.retired.clone(),
                secret: key.secret.as_ref().map(|s| B64.encode(s.expose())),
            })
            .collect(),
    }
}

/// Syncs the directory holding `path`: a new name (a created file, a rename) is an
/// entry of the directory, and only syncing the directory puts that entry on disk.
/// Without it a power loss just after a rotation can bring back the old key file,
/// whose keys no longer open what was sealed after the rotation.
fn sync_directory_of(path: &Path) -> Result<(), KeyFileError> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| KeyFileError::Io {
            path: dir.to_owned(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_file_is_private_and_round_trips() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub/registry.keys");
        let keys = KeyFile::generate().expect("keys");
        keys.create(&path).expect("created");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let loaded = KeyFile::load(&path).expect("loads");
        assert_eq!(loaded.master.active, 1);
        assert_eq!(
            loaded.master.versions[&1]
                .secret
                .as_ref()
                .map(|s| *s.expose()),
            keys.master.versions[&1]
                .secret
                .as_ref()
                .map(|s| *s.expose())
        );
        assert!(matches!(keys.create(&path), Err(KeyFileError::Exists(_))));
    }

    #[test]
    fn missing_and_world_readable_files_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("registry.keys");
        assert!(matches!(
            KeyFile::load(&path),
            Err(KeyFileError::Missing(_))
        ));
        KeyFile::generate()
            .expect("keys")
            .create(&path)
            .expect("created");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
            let err = KeyFile::load(&path).unwrap_err();
            assert!(matches!(err, KeyFileError::Permissions(_)));
            assert!(err.to_string().contains("chmod 600"));
        }
    }

    #[test]
    fn versions_are_added_and_retired_without_losing_the_active_key() {
        let mut keys = KeyFile::generate().expect("keys");
        assert_eq!(keys.add_version(KeyKind::Master).expect("added"), 2);
        assert_eq!(keys.master.active, 2);
        assert!(
            keys.retire(KeyKind::Master, 2).is_err(),
            "active cannot be retired"
        );
        keys.retire(KeyKind::Master, 1).expect("retired");
        assert!(keys.master.versions[&1].secret.is_none());
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("registry.keys");
        keys.create(&path).expect("written");
        let loaded = KeyFile::load(&path).expect("loads");
        assert_eq!(loaded.master.available().count(), 1);
        assert!(loaded.master.versions[&1].retired.is_some());
    }

    #[test]
    fn garbage_is_reported_without_quoting_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("registry.keys");
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut f = options.open(&path).expect("open");
        f.write_all(b"format = 1\nsecret-looking-line = AAAAsecretAAAA\n")
            .expect("write");
        let err = KeyFile::load(&path).unwrap_err().to_string();
        assert!(!err.contains("AAAAsecretAAAA"), "{err}");
    }
}
