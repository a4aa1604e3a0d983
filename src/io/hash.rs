//! Content hashes (sha256, hex) of files and folders: what a twin records of its inputs and
//! what makes a cluster job's problem hash.

use crate::io::InputError;
use crate::{Error, Result};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// sha256 of a file, or of a folder's files (names and contents, in name order; not
/// recursive: a DICOM series folder).
pub fn sha256_path(path: &Path) -> Result<String> {
    if !path.is_dir() {
        return Ok(sha256_hex(&read(path)?));
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|source| InputError::Read {
            path: path.to_path_buf(),
            source,
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    entries.sort();
    let mut h = Sha256::new();
    for p in entries {
        h.update(
            p.file_name()
                .map_or(Vec::new(), |n| n.as_encoded_bytes().to_vec()),
        );
        h.update(sha256_hex(&read(&p)?).as_bytes());
    }
    Ok(hex(&h.finalize()))
}

/// sha256 of `bytes`, hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn read(p: &Path) -> Result<Vec<u8>> {
    std::fs::read(p).map_err(|source| {
        Error::from(InputError::Read {
            path: p.to_path_buf(),
            source,
        })
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digest_and_folder_order() {
        // FIPS 180-2 appendix B.1: sha256("abc").
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let dir = std::env::temp_dir().join(format!("voxdose-hash-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("b"), b"2").unwrap();
        std::fs::write(dir.join("a"), b"1").unwrap();
        let one = sha256_path(&dir).unwrap();
        std::fs::write(dir.join("a"), b"3").unwrap();
        let two = sha256_path(&dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_ne!(one, two, "a folder's hash follows its files' contents");
    }
}
