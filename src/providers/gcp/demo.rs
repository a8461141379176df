//! GCP's project in `perimeter demo` (the `demo` feature): the GCP emulator seeded from
//! examples/demo/gcp-project.yaml, drifted from examples/gcp/, with a service-account key made
//! at start.

use perimeter_emulators::gcp::{GcpEmulator, Seed, ServiceAccount};
use perimeter_emulators::server::RunningEmulator;

use crate::api::CloudProvider;
use crate::api::provider::SecretKeyRef;
use crate::demo::{Account, wire_secret};
use crate::local::{CredentialSource, Options};

const SEED: &str = include_str!("../../../examples/demo/gcp-project.yaml");
const SERVICE_ACCOUNT: &str = "perimeter-demo@demo.iam.gserviceaccount.com";
const EXAMPLES: &[(&str, &str)] = &[
    (
        "examples/gcp/provider.yaml",
        include_str!("../../../examples/gcp/provider.yaml"),
    ),
    (
        "examples/gcp/firewall.yaml",
        include_str!("../../../examples/gcp/firewall.yaml"),
    ),
    (
        "examples/gcp/monitoring.yaml",
        include_str!("../../../examples/gcp/monitoring.yaml"),
    ),
];

/// The demo's GCP service-account key pair, made afresh at each start: the demo's GCP provider
/// signs its bearer tokens (self-signed JWTs) with the private half, the emulator verifies them
/// with the public half. Generated rather than built in, so that no binary carries a private key (image scanners
/// rightly flag one) and the key dies with the process.
struct DemoKey {
    /// PKCS#8 PEM, as in a service-account key JSON's `private_key`.
    private_pem: rsa::pkcs8::der::zeroize::Zeroizing<String>,
    /// PKCS#1 PEM, as the emulator's seed takes it.
    public_pem: String,
}

impl DemoKey {
    /// 2048-bit RSA, as GCP makes service-account keys.
    fn generate() -> Result<Self, String> {
        use rsa::PrivateKey;
        use rsa::pkcs1::EncodeRsaPublicKey;
        use rsa::pkcs8::{EncodePrivateKey, LineEnding};

        let fail = |e: &dyn std::fmt::Display| format!("generating the demo GCP key: {e}");
        let key = PrivateKey::new(&mut getrandom::SysRng, 2048).map_err(|e| fail(&e))?;
        let private_pem = key.to_pkcs8_pem(LineEnding::LF).map_err(|e| fail(&e))?;
        let public_pem = key
            .to_public_key()
            .to_pkcs1_pem(LineEnding::LF)
            .map_err(|e| fail(&e))?;
        Ok(Self {
            private_pem,
            public_pem,
        })
    }
}

struct Demo {
    emulator: GcpEmulator,
    /// Keeps the emulator serving.
    _running: RunningEmulator,
    endpoint: String,
    key: DemoKey,
}

pub async fn start() -> Result<Box<dyn Account>, String> {
    Ok(Box::new(launch().await?))
}

async fn launch() -> Result<Demo, String> {
    // Prime search: seconds of CPU, off the runtime's threads.
    let key = tokio::task::spawn_blocking(DemoKey::generate)
        .await
        .map_err(|e| format!("generating the demo GCP key: {e}"))??;
    let mut seed: Seed = serde_yaml::from_str(SEED).map_err(|e| format!("gcp demo seed: {e}"))?;
    seed.service_accounts.push(ServiceAccount {
        client_email: SERVICE_ACCOUNT.into(),
        public_key_pem: key.public_pem.clone(),
    });
    let emulator = GcpEmulator::new(seed);
    let running = emulator
        .start("127.0.0.1:0")
        .await
        .map_err(|e| format!("starting the GCP emulator: {e}"))?;
    let endpoint = running.base_url();
    Ok(Demo {
        emulator,
        _running: running,
        endpoint,
        key,
    })
}

impl Account for Demo {
    fn provider_type(&self) -> crate::api::ProviderType {
        crate::api::ProviderType::Gcp
    }

    fn banner(&self) -> String {
        format!(
            "GCP emulator:        {} (seeded from examples/demo/gcp-project.yaml)",
            self.endpoint
        )
    }

    fn examples(&self) -> &'static [(&'static str, &'static str)] {
        EXAMPLES
    }

    /// The examples use Workload Identity; the generated key in a (local) Secret stands in. Like
    /// a real key it names a token endpoint (the emulator's, so it must be an allowed token
    /// host), which Perimeter checks although a key's JWTs are used without an exchange.
    fn wire(
        &self,
        provider: &mut CloudProvider,
        credentials: &mut CredentialSource,
        options: &mut Options,
    ) -> Result<(), String> {
        let secret = SecretKeyRef {
            name: "gcp-demo".into(),
            key: "key.json".into(),
        };
        let key = serde_json::json!({
            "type": "service_account", "client_email": SERVICE_ACCOUNT,
            "private_key": self.key.private_pem.as_str(),
            "token_uri": format!("{}/token", self.endpoint),
        });
        let key = key.to_string();
        wire_secret(provider, secret, &key, &self.endpoint, credentials, options);
        let token_host = crate::trust::url::parse(&self.endpoint, crate::trust::url::Rules::TOKEN)
            .and_then(|u| crate::trust::HostPattern::parse(&u.authority()))?;
        options.trust.token_hosts.push(token_host);
        Ok(())
    }

    fn requests(&self) -> perimeter_emulators::server::RequestLog {
        self.emulator.log().clone()
    }

    /// The audit log is read by POST (`entries:list`): a read, not a write.
    fn writes(&self) -> usize {
        self.emulator
            .log()
            .writes()
            .iter()
            .filter(|w| w.path != "/v2/entries:list")
            .count()
    }

    /// None: the GCP examples are in sync after the first pass until someone edits the
    /// project, and the Cloudflare and AWS edits show the loop. The seed's drift was made by
    /// people in the Cloud Console (its `consoleChanges`), and is attributed to them.
    fn edits(&self) -> &'static [&'static str] {
        &[]
    }

    fn edit(&self, _: usize) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The generated key is one the GCP provider can sign with and the emulator verifies
    /// against the public half it is seeded with (with ring, as the emulator does it); and it
    /// is made afresh, not built in.
    #[test]
    fn generated_key_signs_what_the_emulator_verifies() {
        let key = DemoKey::generate().expect("key");
        let der = |pem: &str| {
            use base64::Engine;
            let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .expect("PEM")
        };
        let pair = ring::signature::RsaKeyPair::from_pkcs8(&der(&key.private_pem)).expect("pkcs8");
        let mut sig = vec![0; pair.public().modulus_len()];
        pair.sign(
            &ring::signature::RSA_PKCS1_SHA256,
            &ring::rand::SystemRandom::new(),
            b"header.claims",
            &mut sig,
        )
        .expect("sign");
        let public = ring::signature::UnparsedPublicKey::new(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            der(&key.public_pem),
        );
        assert!(public.verify(b"header.claims", &sig).is_ok());
        assert!(public.verify(b"header.claimz", &sig).is_err());
        let other = DemoKey::generate().expect("key");
        assert_ne!(*other.private_pem, *key.private_pem);
    }
}
