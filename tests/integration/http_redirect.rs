//! The REST backends follow no redirect (#13 item 8): an API that answers with a redirect to
//! plain HTTP elsewhere never gets the credential resent there, whatever the header carrying it
//! (`Authorization: Token`, `Authorization: Bearer`, `X-API-Key`).

use std::sync::Arc;

use daneroll_providers::http::RetryPolicy;
use daneroll_providers::settings::{
    HostedSettings, PowerDnsSettings, ProviderSettings, build_backend_with,
};

use crate::fakes::{FakeServer, Response};
use crate::util::Dir;

const OWNER: &str = "_25._tcp.mx.mail.example.com.";
const TOKEN: &str = "redirect-test-token-5f1c";

/// Every request to the API is answered with `status` and a `Location` on the plain-HTTP
/// `elsewhere`; `elsewhere` logs what reaches it.
fn redirecting(status: u16, elsewhere: &FakeServer) -> FakeServer {
    let target = Arc::new(format!("http://{}", elsewhere.addr()));
    FakeServer::start("/api", move |request| {
        Response::empty(status).header("Location", format!("{target}/api{}", request.path))
    })
}

fn settings(kind: &str, url: String, token_file: std::path::PathBuf) -> ProviderSettings {
    let hosted = HostedSettings {
        api_url: Some(url.clone()),
        token_file: Some(token_file.clone()),
        token_env: None,
        zone: Some("mail.example.com.".into()),
    };
    match kind {
        "desec" => ProviderSettings::Desec(hosted),
        "cloudflare" => ProviderSettings::Cloudflare(hosted),
        "hetzner" => ProviderSettings::Hetzner(hosted),
        _ => ProviderSettings::Powerdns(PowerDnsSettings {
            api_url: url,
            server_id: "localhost".into(),
            token_file: Some(token_file),
            token_env: None,
            zone: Some("mail.example.com.".into()),
        }),
    }
}

#[tokio::test]
async fn a_redirect_to_plain_http_never_receives_the_credential() {
    let dir = Dir::new();
    let token_file = dir.write("token", TOKEN);
    for kind in ["desec", "cloudflare", "hetzner", "powerdns"] {
        for status in [301, 302, 307, 308] {
            let elsewhere =
                FakeServer::start("/api", |_| Response::json(200, serde_json::json!({})));
            let api = redirecting(status, &elsewhere);
            let url = format!("http://{}/api", api.addr());
            let backend = build_backend_with(
                kind,
                &settings(kind, url, token_file.clone()),
                RetryPolicy::default(),
            )
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
            let error = backend
                .read(OWNER)
                .await
                .expect_err("a redirect is not an answer")
                .to_string();
            assert!(
                error.contains("redirect") && error.contains(&elsewhere.addr().to_string()),
                "{kind} {status}: {error}"
            );
            assert!(!error.contains(TOKEN), "{kind}: {error}");
            assert!(
                elsewhere.log().is_empty(),
                "{kind} {status}: the redirect target got {:?}",
                elsewhere.log()
            );
            assert_eq!(
                api.log().len(),
                1,
                "{kind} {status}: a redirect is not retried"
            );
        }
    }
}
