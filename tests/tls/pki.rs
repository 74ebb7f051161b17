//! A throwaway certificate authority and a server certificate for
//! `localhost` and `127.0.0.1` (rcgen), written as PEM files to a temp dir
//! that is removed with the `Pki`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};

pub struct Pki {
    pub dir: PathBuf,
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Another CA that signed nothing here (for verification failures).
    pub other_ca: PathBuf,
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn ca(name: &str) -> (rcgen::Certificate, KeyPair) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    (params.self_signed(&key).unwrap(), key)
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

impl Pki {
    pub fn new() -> Pki {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "pgsplit-tls-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let (ca_cert, ca_key) = ca("pgsplit test CA");
        let (other, _) = ca("some other CA");
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        let cert = params.signed_by(&key, &ca_cert, &ca_key).unwrap();
        let pki = Pki {
            ca: dir.join("ca.pem"),
            cert: dir.join("server.pem"),
            key: dir.join("server.key"),
            other_ca: dir.join("other-ca.pem"),
            dir,
        };
        write(&pki.ca, &ca_cert.pem());
        write(&pki.other_ca, &other.pem());
        write(&pki.cert, &cert.pem());
        write(&pki.key, &key.serialize_pem());
        pki
    }

    /// The same files in `dir` (created), this copy removed. For a Pki
    /// kept in a static, which is never dropped: in a cluster's directory
    /// it goes with the cluster, whose watchdog removes it when the test
    /// binary exits.
    pub fn move_to(self, dir: &Path) -> Pki {
        std::fs::create_dir_all(dir).unwrap();
        let copy = |from: &Path| {
            let to = dir.join(from.file_name().unwrap());
            std::fs::copy(from, &to).unwrap();
            to
        };
        Pki {
            ca: copy(&self.ca),
            cert: copy(&self.cert),
            key: copy(&self.key),
            other_ca: copy(&self.other_ca),
            dir: dir.to_owned(),
        }
    }
}
