//! A local cluster's credentials: random bearer tokens (one per identity), the service
//! account signing key, and the kubeconfigs that use them — written into a private directory
//! (0700, files 0600) that is removed when the cluster is torn down (kept with `--keep`).

use std::fmt::Write as _;
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use ring::rand::SecureRandom as _;

/// Why credentials could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// Randomness or key generation failed.
    #[error("cannot generate {what}")]
    Generate {
        /// What.
        what: &'static str,
    },
    /// A file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// Who talks to the API server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Identity {
    /// The harness itself and whoever inspects a kept cluster (`system:masters`).
    Admin,
    /// kube-controller-manager (`system:masters`: it runs controllers with its own identity).
    ControllerManager,
    /// kube-proxy (`system:kube-proxy`, bound to `system:node-proxier` by the default RBAC).
    Proxy,
    /// A node agent of the user's (`--node-agent`; `system:masters`).
    NodeAgent,
}

impl Identity {
    /// Every identity, in token-file order.
    pub const ALL: [Identity; 4] = [
        Identity::Admin,
        Identity::ControllerManager,
        Identity::Proxy,
        Identity::NodeAgent,
    ];

    /// `(user, groups)` in the token file.
    fn user(self) -> (&'static str, &'static str) {
        match self {
            Identity::Admin => ("topo-harness-admin", "system:masters"),
            Identity::ControllerManager => ("system:kube-controller-manager", "system:masters"),
            Identity::Proxy => ("system:kube-proxy", ""),
            Identity::NodeAgent => ("topo-harness-node-agent", "system:masters"),
        }
    }

    /// Its file name stem.
    fn stem(self) -> &'static str {
        match self {
            Identity::Admin => "admin",
            Identity::ControllerManager => "kube-controller-manager",
            Identity::Proxy => "kube-proxy",
            Identity::NodeAgent => "node-agent",
        }
    }
}

/// The credentials of one cluster, in `dir`.
#[derive(Clone, Debug)]
pub struct Secrets {
    /// The private directory.
    pub dir: PathBuf,
    tokens: Vec<(Identity, String)>,
}

/// `n` random bytes as hex.
fn random_hex(n: usize) -> Result<String, SecretsError> {
    let mut bytes = vec![0u8; n];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| SecretsError::Generate { what: "a token" })?;
    Ok(bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    }))
}

/// Writes `contents` to `path`, readable by the owner only.
fn write_private(path: &Path, contents: &[u8]) -> Result<(), SecretsError> {
    let write = |source| SecretsError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(write)?;
    file.write_all(contents).map_err(write)?;
    // A file that existed keeps its old mode with `open`: set it.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(write)
}

/// PEM armour.
fn pem(label: &str, der: &[u8]) -> String {
    let text = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in text.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The DER prefix of a P-256 SubjectPublicKeyInfo (id-ecPublicKey, prime256v1, a 66-byte
/// BIT STRING); the uncompressed point follows.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

impl Secrets {
    /// Creates `dir` (0700) with fresh tokens and a service-account key pair.
    pub fn create(dir: &Path) -> Result<Secrets, SecretsError> {
        let write = |source| SecretsError::Write {
            path: dir.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(write)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(write)?;
        let mut tokens = Vec::new();
        let mut file = String::new();
        for identity in Identity::ALL {
            let token = random_hex(32)?;
            let (user, groups) = identity.user();
            let _ = writeln!(file, "{token},{user},{user},\"{groups}\"");
            tokens.push((identity, token));
        }
        let secrets = Secrets {
            dir: dir.to_path_buf(),
            tokens,
        };
        write_private(&secrets.token_file(), file.as_bytes())?;
        let rng = ring::rand::SystemRandom::new();
        let alg = &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let pkcs8 = ring::signature::EcdsaKeyPair::generate_pkcs8(alg, &rng).map_err(|_| {
            SecretsError::Generate {
                what: "the service account key",
            }
        })?;
        let pair =
            ring::signature::EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).map_err(|_| {
                SecretsError::Generate {
                    what: "the service account key",
                }
            })?;
        use ring::signature::KeyPair as _;
        let mut spki = P256_SPKI_PREFIX.to_vec();
        spki.extend_from_slice(pair.public_key().as_ref());
        write_private(
            &secrets.sa_private_key(),
            pem("PRIVATE KEY", pkcs8.as_ref()).as_bytes(),
        )?;
        write_private(
            &secrets.sa_public_key(),
            pem("PUBLIC KEY", &spki).as_bytes(),
        )?;
        Ok(secrets)
    }

    /// Credentials said to live in `dir` without making any (flag rendering in tests).
    #[cfg(test)]
    pub(crate) fn at(dir: &Path) -> Secrets {
        Secrets {
            dir: dir.to_path_buf(),
            tokens: Vec::new(),
        }
    }

    /// `--token-auth-file`.
    pub fn token_file(&self) -> PathBuf {
        self.dir.join("tokens.csv")
    }

    /// `--service-account-signing-key-file`.
    pub fn sa_private_key(&self) -> PathBuf {
        self.dir.join("sa.key")
    }

    /// `--service-account-key-file`.
    pub fn sa_public_key(&self) -> PathBuf {
        self.dir.join("sa.pub")
    }

    /// The API server's serving certificates (`--cert-dir`; it writes a self-signed pair).
    pub fn cert_dir(&self) -> PathBuf {
        self.dir.join("serving")
    }

    /// The certificate a client trusts (the API server's self-signed chain).
    pub fn ca_file(&self) -> PathBuf {
        self.cert_dir().join("apiserver.crt")
    }

    /// The kubeconfig of `identity` reaching the API server at `server`; `scope` tells two
    /// kubeconfigs of one identity apart (the host's and the nodes').
    pub fn kubeconfig_path(&self, identity: Identity, scope: &str) -> PathBuf {
        self.dir
            .join(format!("{}-{scope}.kubeconfig", identity.stem()))
    }

    /// Writes the kubeconfig of `identity` for `server` (e.g. `https://127.0.0.1:34567`).
    pub fn write_kubeconfig(
        &self,
        identity: Identity,
        scope: &str,
        server: &str,
    ) -> Result<PathBuf, SecretsError> {
        let token = self
            .tokens
            .iter()
            .find(|(i, _)| *i == identity)
            .map(|(_, t)| t.as_str())
            .unwrap_or_default();
        let text = kubeconfig_text(server, &self.ca_file(), token);
        let path = self.kubeconfig_path(identity, scope);
        write_private(&path, text.as_bytes())?;
        Ok(path)
    }

    /// Removes the directory and everything in it.
    pub fn remove(&self) -> std::io::Result<()> {
        match std::fs::remove_dir_all(&self.dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

/// A kubeconfig with one cluster, user and context named `local`.
fn kubeconfig_text(server: &str, ca: &Path, token: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: local\n  cluster:\n    server: {server}\n    certificate-authority: {ca}\nusers:\n- name: local\n  user:\n    token: {token}\ncontexts:\n- name: local\n  context:\n    cluster: local\n    user: local\ncurrent-context: local\n",
        ca = ca.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn credentials_are_private_and_distinct() {
        let dir = std::env::temp_dir().join(format!("topo-secrets-{}", std::process::id()));
        let secrets = Secrets::create(&dir.join("s")).expect("created");
        let mode = |p: &Path| std::fs::metadata(p).expect("exists").mode() & 0o777;
        assert_eq!(mode(&secrets.dir), 0o700);
        for file in [
            secrets.token_file(),
            secrets.sa_private_key(),
            secrets.sa_public_key(),
        ] {
            assert_eq!(mode(&file), 0o600, "{}", file.display());
        }
        let tokens = std::fs::read_to_string(secrets.token_file()).expect("tokens");
        let lines: Vec<&str> = tokens.lines().collect();
        assert_eq!(lines.len(), 4);
        let distinct: std::collections::BTreeSet<&str> =
            lines.iter().filter_map(|l| l.split(',').next()).collect();
        assert_eq!(distinct.len(), 4);
        assert!(
            lines[2].contains(",system:kube-proxy,system:kube-proxy,\"\""),
            "{}",
            lines[2]
        );
        assert!(lines[0].ends_with(",\"system:masters\""), "{}", lines[0]);
        let key = std::fs::read_to_string(secrets.sa_private_key()).expect("key");
        assert!(key.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{key}");
        let public = std::fs::read_to_string(secrets.sa_public_key()).expect("pub");
        assert!(
            public.starts_with("-----BEGIN PUBLIC KEY-----\n"),
            "{public}"
        );
        let path = secrets
            .write_kubeconfig(Identity::Proxy, "node", "https://127.0.0.1:6443")
            .expect("kubeconfig");
        assert_eq!(mode(&path), 0o600);
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(text.contains("server: https://127.0.0.1:6443"), "{text}");
        assert!(text.contains(&format!(
            "token: {}",
            lines[2].split(',').next().unwrap_or("")
        )));
        secrets.remove().expect("removed");
        assert!(!secrets.dir.exists());
        secrets.remove().expect("removing twice is fine");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn pem_lines_are_64_characters() {
        let text = pem("X", &[7u8; 100]);
        let body: Vec<&str> = text
            .lines()
            .skip(1)
            .take_while(|l| !l.starts_with("-----"))
            .collect();
        assert_eq!(body.len(), 3);
        assert!(body[..2].iter().all(|l| l.len() == 64));
    }
}
