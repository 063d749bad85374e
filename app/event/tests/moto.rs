//! The event Lambda and the Lambda init path against moto's server (ECR and Secrets Manager),
//! reached the way production reaches AWS: `aws_config::load_defaults` honouring
//! `AWS_ENDPOINT_URL`. moto_server comes from the project's .venv (`make setup`); without it this
//! test fails (it does not skip), naming the command to run.
//!
//! One test in this binary: it sets process environment variables before any other thread runs.

use fleet_db::testing::TestDb;
use fleet_event::{Outcome, handle};
use serde_json::{Value, json};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Moto(Child);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn moto_server() -> PathBuf {
    let path = std::env::var_os("MOTO_SERVER").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/moto_server")
    });
    assert!(
        path.is_file(),
        "moto_server not found at {}: run `make setup` (installs moto[server] into .venv) or set MOTO_SERVER",
        path.display()
    );
    path
}

fn start_moto() -> (Moto, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(moto_server())
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start moto_server");
    let moto = Moto(child);
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(start.elapsed() < Duration::from_secs(60), "moto_server did not listen on 127.0.0.1:{port} within 60 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    (moto, port)
}

fn sample(name: &str) -> Value {
    let path = format!("{}/../events/event/{name}.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

#[test]
fn push_is_recorded_with_details_from_ecr_and_init_reads_the_secret() {
    let (_moto, port) = start_moto();
    let db = TestDb::new();
    let dbport = db.url().split('@').nth(1).unwrap().split('/').next().unwrap().rsplit(':').next().unwrap().to_string();
    // SAFETY: the only test of this binary; no other thread reads the environment yet.
    unsafe {
        for (k, v) in [
            ("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}")),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_REGION", "eu-west-1".into()),
            ("DB_HOST", "127.0.0.1".into()),
            ("DB_PORT", dbport),
            ("DB_NAME", db.name().to_string()),
            ("DB_SSLMODE", "disable".into()),
        ] {
            std::env::set_var(k, v);
        }
        std::env::remove_var("AWS_PROFILE");
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let sdk = fleet_lambda::sdk_config().await;

        // Lambda init: DB_SECRET_ARN -> Secrets Manager -> pool.
        let sm = aws_sdk_secretsmanager::Client::new(&sdk);
        let secret = sm
            .create_secret()
            .name("rust-on-aws/db")
            .secret_string(json!({"username": "postgres", "password": "it's \\ trust", "engine": "postgres"}).to_string())
            .send()
            .await
            .expect("moto CreateSecret");
        unsafe { std::env::set_var("DB_SECRET_ARN", secret.arn().unwrap()) };
        let pool = fleet_lambda::init_database(&sdk).await.expect("init reads the secret");
        fleet_db::ping(&mut pool.get().unwrap()).unwrap();
        unsafe { std::env::set_var("DB_SECRET_ARN", "arn:aws:secretsmanager:eu-west-1:123456789012:secret:missing") };
        let e = fleet_lambda::init_database(&sdk).await.unwrap_err().to_string();
        assert!(e.starts_with("reading the database secret arn:aws:secretsmanager:eu-west-1:123456789012:secret:missing failed"), "{e}");

        // An image pushed to moto's ECR.
        let ecr = aws_sdk_ecr::Client::new(&sdk);
        ecr.create_repository().repository_name("rust-on-aws-server").send().await.expect("moto CreateRepository");
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 7023, "digest": format!("sha256:{}", "c".repeat(64))},
            "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 32654, "digest": format!("sha256:{}", "d".repeat(64))}],
        });
        let put = ecr
            .put_image()
            .repository_name("rust-on-aws-server")
            .image_manifest(manifest.to_string())
            .image_tag("v1.0.0")
            .send()
            .await
            .expect("moto PutImage");
        let digest = put.image().unwrap().image_id().unwrap().image_digest().unwrap().to_string();

        let mut event = sample("push");
        event["detail"]["image-digest"] = json!(digest);
        let out = handle(pool.clone(), &ecr, "rust-on-aws-server", event).await.expect("recorded");
        let Outcome::Recorded { image } = out else { panic!("not recorded: {out:?}") };
        assert_eq!((image.digest.as_str(), image.tag.as_deref(), image.size_bytes), (digest.as_str(), Some("v1.0.0"), Some(7023)));
        assert!(image.pushed_at.is_some_and(|t| (chrono::Utc::now() - t).num_minutes() < 10), "{image:?}");
        let stored = fleet_db::list_images(&mut db.conn(), 10).unwrap();
        assert_eq!(stored, vec![image]);

        // A push ECR does not know is an error (retried by Lambda), not a half-record.
        let mut unknown = sample("push");
        unknown["detail"]["image-digest"] = json!(format!("sha256:{}", "e".repeat(64)));
        let e = handle(pool, &ecr, "rust-on-aws-server", unknown).await.unwrap_err();
        assert_eq!(e.error_type, "EcrError", "{e:?}");
        assert_eq!(fleet_db::list_images(&mut db.conn(), 10).unwrap().len(), 1);
    });
}
