//! Headless Debian Chromium over WebDriver for the dashboard's browser tests: chromedriver spawned
//! on a free port (killed when the [`Browser`] drops), a fresh profile, Chinese locale, and
//! screenshots written to `test-output/` at the repository root for a person to look at.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use xuncha_server::demo::DEMO_PASSWORD;

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A WebDriver session in headless Chromium; the driver process and profile live as long as it.
pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Where screenshots and downloads of the tests go: `test-output/` at the repository root.
pub fn output_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../test-output");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

impl Browser {
    /// Starts chromedriver and a browser session 1400×1000 px wide, `zh-CN`.
    pub async fn start() -> Browser {
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver runs (bash scripts/install-test-deps.sh installs it)");
        let mut listening = false;
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                listening = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(listening, "chromedriver did not listen on port {port}");
        let profile = tempfile::tempdir().unwrap();
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--window-size=1400,1000", "--lang=zh-CN",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }),
        );
        // The unified workspace build links rustls with two crypto providers, so it cannot pick a
        // default itself; an error only means another test installed one already.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = ClientBuilder::rustls()
            .unwrap()
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("WebDriver session");
        Browser {
            client,
            driver,
            _profile: profile,
        }
    }

    /// Ends the WebDriver session; dropping the browser then stops chromedriver.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }

    /// Signs in through the dashboard's form with the demo password and waits for the queue.
    pub async fn sign_in(&self, base: &str, username: &str) {
        let c = &self.client;
        c.goto(&format!("{base}/dashboard/login")).await.unwrap();
        c.find(Locator::Id("username"))
            .await
            .unwrap()
            .send_keys(username)
            .await
            .unwrap();
        c.find(Locator::Id("password"))
            .await
            .unwrap()
            .send_keys(DEMO_PASSWORD)
            .await
            .unwrap();
        c.find(Locator::Id("login-submit"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        c.wait().for_element(Locator::Id("queue")).await.unwrap();
    }

    /// Saves a screenshot of the viewport as `test-output/<name>.png`.
    pub async fn shot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        std::fs::write(output_dir().join(format!("{name}.png")), png).unwrap();
    }

    /// The visible text of the first element matching `css`.
    pub async fn text(&self, css: &str) -> String {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"))
            .text()
            .await
            .unwrap()
    }

    /// Clicks the first element matching `css`, waits for the browser to leave the current page
    /// (its `<html>` element goes stale, which also holds when a form answers with the same URL)
    /// and for `ready` (a CSS selector) on the new page.
    pub async fn click_and_wait(&self, css: &str, ready: &str) {
        let c = &self.client;
        let old_page = c.find(Locator::Css("html")).await.unwrap();
        c.find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"))
            .click()
            .await
            .unwrap();
        let mut left = false;
        for _ in 0..150 {
            if old_page.tag_name().await.is_err() {
                left = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(left, "clicking {css} did not load a new page");
        c.wait().for_element(Locator::Css(ready)).await.unwrap();
    }
}
