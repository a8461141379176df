//! Modal's account in `perimeter demo` (the `demo` feature): there is no API, so no emulator.
//! The demo loads examples/modal/ (a CloudProvider without credentials) and the ControlAssessment
//! attests Modal's three parts (examples/compliance/de-cm-1.yaml), so the report shows them
//! Attested, never Verified.

use perimeter_emulators::server::RequestLog;

use crate::api::CloudProvider;
use crate::demo::Account;
use crate::local::{CredentialSource, Options};

const EXAMPLES: &[(&str, &str)] = &[(
    "examples/modal/provider.yaml",
    include_str!("../../../examples/modal/provider.yaml"),
)];

struct Demo {
    /// Always empty: nothing is called.
    log: RequestLog,
}

pub fn start() -> Box<dyn Account> {
    Box::new(Demo {
        log: RequestLog::new(),
    })
}

impl Account for Demo {
    fn provider_type(&self) -> crate::api::ProviderType {
        crate::api::ProviderType::Modal
    }

    fn banner(&self) -> String {
        "Modal: no public management API, nothing to emulate or call (covered by attestations)"
            .into()
    }

    fn examples(&self) -> &'static [(&'static str, &'static str)] {
        EXAMPLES
    }

    /// Nothing to point anywhere: the CloudProvider has no endpoint and no credential.
    fn wire(
        &self,
        _provider: &mut CloudProvider,
        _credentials: &mut CredentialSource,
        _options: &mut Options,
    ) -> Result<(), String> {
        Ok(())
    }

    fn requests(&self) -> RequestLog {
        self.log.clone()
    }

    fn edits(&self) -> &'static [&'static str] {
        &[]
    }

    fn edit(&self, _i: usize) {}
}
