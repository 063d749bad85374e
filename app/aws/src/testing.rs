//! Test helpers (feature `testing`): moto's server, started from the project's .venv
//! (`make setup`) or `$MOTO_SERVER`, on a free 127.0.0.1 port, and an SDK configuration that
//! talks to it. Without moto the tests fail (they do not skip), naming the command to run.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running moto_server, killed on drop.
pub struct Moto {
    child: Child,
    pub port: u16,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn moto_server() -> PathBuf {
    let path = std::env::var_os("MOTO_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/moto_server"));
    assert!(
        path.is_file(),
        "moto_server not found at {}: run `make setup` (installs moto[server] into .venv) or set MOTO_SERVER",
        path.display()
    );
    path
}

impl Moto {
    /// Starts moto and waits (up to 60 s) until it listens.
    pub fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(moto_server())
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server");
        let moto = Self { child, port };
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(start.elapsed() < Duration::from_secs(60), "moto_server did not listen on 127.0.0.1:{port} within 60 s");
            std::thread::sleep(Duration::from_millis(100));
        }
        moto
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// An SDK configuration for moto (region eu-west-1, dummy credentials), built without
    /// touching the process environment.
    pub fn sdk(&self) -> SdkConfig {
        let credentials = aws_sdk_secretsmanager::config::Credentials::new("testing", "testing", None, None, "moto");
        SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("eu-west-1"))
            .endpoint_url(self.endpoint())
            .credentials_provider(aws_sdk_secretsmanager::config::SharedCredentialsProvider::new(credentials))
            .http_client(crate::http_client())
            .build()
    }
}
