//! Server configuration: defaults, then an optional TOML file, then environment variables (env
//! wins), then command-line flags. The database URL may hold a password: it is never logged
//! (`Debug` redacts it).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// Explicit limits on everything a client can send.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest JSON body on auth routes.
    pub auth_body_bytes: usize,
    /// Largest JSON body on `POST /api/v1/sync/push`.
    pub push_body_bytes: usize,
    /// Most events in one push.
    pub push_batch_events: usize,
    /// Most cases in one pull page.
    pub pull_page_cases: usize,
    /// Largest photo (uploaded bytes).
    pub photo_bytes: u64,
    /// Most pixels a photo may declare; checked from the header before decoding.
    pub photo_pixels: u64,
    /// Longest edge a stored photo keeps after re-encoding.
    pub photo_max_edge: u32,
    /// Requests per second each access token may sustain, and the burst above it.
    pub requests_per_second: f64,
    pub request_burst: f64,
    /// How many seconds a pushed event's device time may run ahead of the server's clock; more
    /// is refused per event (`DEVICE_TIME_IN_FUTURE`). Device time is evidence, never a deadline.
    pub max_device_clock_skew_s: u32,
}

impl Limits {
    /// [`Limits::max_device_clock_skew_s`] as a duration.
    pub fn max_device_skew(&self) -> chrono::TimeDelta {
        chrono::TimeDelta::seconds(i64::from(self.max_device_clock_skew_s))
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            auth_body_bytes: 16 * 1024,
            push_body_bytes: 4 * 1024 * 1024,
            push_batch_events: 500,
            pull_page_cases: 500,
            photo_bytes: 20 * 1024 * 1024,
            photo_pixels: 50_000_000,
            photo_max_edge: 1600,
            requests_per_second: 50.0,
            request_burst: 200.0,
            max_device_clock_skew_s: 600,
        }
    }
}

/// Limits on sign-in work (SECURITY.md, "Limits and their defaults"). Password checks cost one
/// argon2 run each (about 19 MiB and tens of milliseconds), so they are bounded three ways: how
/// many run at once, how many any one client address may ask for, and how many all clients may.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthLimits {
    /// argon2 runs at once; 0 = the number of CPU cores.
    pub argon2_concurrency: usize,
    /// How long a password check may wait for a free argon2 slot before the server answers
    /// 503 `SERVER_BUSY` with `Retry-After`.
    pub argon2_queue_ms: u64,
    /// Credential attempts (enrol, refresh, dashboard sign-in, unknown bearer tokens) per client
    /// address per minute, and the burst above it (429 `RATE_LIMITED`).
    pub per_ip_per_minute: u32,
    pub per_ip_burst: u32,
    /// Password checks per second over all clients, and the burst (429 `RATE_LIMITED`).
    pub global_per_second: u32,
    pub global_burst: u32,
    /// Wrong passwords for one account from one client address before it is locked for that
    /// address (other addresses, i.e. the real user elsewhere, are not locked).
    pub lockout_after_failures: u32,
    /// First lock; each further failure doubles it, up to `lockout_max_s`.
    pub lockout_base_s: u64,
    pub lockout_max_s: u64,
    /// Live dashboard sessions and active (not revoked) devices per user; the oldest goes.
    pub sessions_per_user: usize,
    /// A refresh token spent this recently may be presented once more (the phone lost the
    /// answer to its refresh); older spent tokens count as stolen and revoke the device.
    pub refresh_reuse_grace_s: u64,
}

impl Default for AuthLimits {
    fn default() -> Self {
        AuthLimits {
            argon2_concurrency: 0,
            argon2_queue_ms: 2_000,
            per_ip_per_minute: 30,
            per_ip_burst: 30,
            global_per_second: 20,
            global_burst: 40,
            lockout_after_failures: 5,
            lockout_base_s: 60,
            lockout_max_s: 3_600,
            sessions_per_user: 20,
            refresh_reuse_grace_s: 30,
        }
    }
}

impl AuthLimits {
    /// The argon2 slots in force.
    pub fn argon2_slots(&self) -> usize {
        if self.argon2_concurrency > 0 {
            self.argon2_concurrency
        } else {
            std::thread::available_parallelism().map_or(2, std::num::NonZero::get)
        }
    }
}

/// Limits on connections, against slow or silent clients (SECURITY.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConnectionLimits {
    /// Open connections at once; further clients wait in the kernel's accept queue.
    pub max_connections: usize,
    /// From the first byte a request head is awaited (also on an idle keep-alive connection)
    /// until the whole head has arrived.
    pub header_read_timeout_ms: u64,
    /// Longest pause between two pieces of a request body.
    pub body_timeout_ms: u64,
    /// A connection on which nothing is read or written for this long is closed.
    pub idle_timeout_ms: u64,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_connections: 1_024,
            header_read_timeout_ms: 10_000,
            body_timeout_ms: 30_000,
            idle_timeout_ms: 120_000,
        }
    }
}

impl ConnectionLimits {
    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_millis(self.header_read_timeout_ms.max(1))
    }

    pub fn body_timeout(&self) -> Duration {
        Duration::from_millis(self.body_timeout_ms.max(1))
    }

    pub fn idle_timeout(&self) -> Duration {
        Duration::from_millis(self.idle_timeout_ms.max(1))
    }
}

#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Folder for the SQLite database and the photo store.
    pub data_dir: PathBuf,
    /// `postgres://…`: use PostgreSQL instead of the embedded SQLite database.
    pub database_url: Option<String>,
    pub bind: SocketAddr,
    /// Seed demo estates, units and accounts at start.
    pub demo: bool,
    /// Also seed a quarter of demo history (about a hundred cases in every state, through the
    /// ingest path) when the database has no case yet; implies `demo`. `serve --demo` turns it
    /// on (`--no-history` leaves it off); tests that count cases keep it off.
    pub demo_history: bool,
    pub access_token_ttl_s: u64,
    pub limits: Limits,
    /// Connections in the PostgreSQL pool.
    pub pg_pool_size: usize,
    /// Unfinished uploads and unreferenced photos (issue 11 item 7).
    pub uploads: UploadLimits,
    /// A VERIFY's GPS must lie inside the estate boundary or at most this far (metres) from the
    /// case's reported location (issue 10 item 4).
    pub verify_max_distance_m: f64,
    /// The server's address as the outside world reaches it (`https://xuncha.example.cn`), used
    /// in Open311 discovery instead of the request's Host header. Default
    /// `http://127.0.0.1:<port>` (see [`Config::public_url`]).
    pub public_url: Option<String>,
    pub auth: AuthLimits,
    pub connections: ConnectionLimits,
    /// The dashboard map's base layer (off by default: the map then makes no external request).
    pub map: MapConfig,
}

/// Geodetic datum a tile service draws in: the dashboard shifts our WGS-84 data into it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TileDatum {
    /// WGS-84, or CGCS2000 (天地图), which differs from WGS-84 by centimetres.
    #[default]
    Wgs84,
    /// GCJ-02, the offset datum of 高德/腾讯 tiles.
    Gcj02,
}

/// The dashboard map's base layer (README "地图底图"). Either the district's 天地图 key
/// (`tianditu_key`: the vec_w + cva_w WMTS layers, CGCS2000 ≈ WGS-84) or any XYZ template
/// (`xyz_url` with `{z}/{x}/{y}` and optionally `{s}`, plus `attribution` and `datum`). With
/// neither, the map shows our vector data on a blank background and the page references no
/// other host.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MapConfig {
    /// 天地图 browser key (天地图 "浏览器端" key of the district's account).
    pub tianditu_key: Option<String>,
    /// XYZ tile URL template, e.g. 高德
    /// `https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}`.
    pub xyz_url: Option<String>,
    /// Subdomains `{s}` cycles through, e.g. `1234`.
    pub xyz_subdomains: Option<String>,
    /// Attribution shown on the map (the tile service's terms require it).
    pub attribution: Option<String>,
    /// Datum of the XYZ tiles (`wgs84` or `gcj02`); 天地图 is always `wgs84`.
    pub datum: TileDatum,
    /// Highest zoom the tile service offers.
    pub max_zoom: Option<u8>,
}

/// 天地图 WMTS (Web Mercator, `_w`) templates; `{s}` is 0–7, `{tk}` the key.
pub const TIANDITU_VEC_W: &str = "https://t{s}.tianditu.gov.cn/vec_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER=vec&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk={tk}";
pub const TIANDITU_CVA_W: &str = "https://t{s}.tianditu.gov.cn/cva_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER=cva&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk={tk}";

/// One tile layer as the map script gets it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TileLayer {
    pub url: String,
    pub subdomains: String,
    pub attribution: String,
    pub max_zoom: u8,
}

impl MapConfig {
    /// The configured tile layers, bottom first (none when the base map is off).
    pub fn tile_layers(&self) -> Vec<TileLayer> {
        let nonempty = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        if let Some(key) = nonempty(&self.tianditu_key) {
            let attribution = nonempty(&self.attribution)
                .unwrap_or_else(|| "天地图 © 国家地理信息公共服务平台".to_owned());
            return [TIANDITU_VEC_W, TIANDITU_CVA_W]
                .iter()
                .map(|t| TileLayer {
                    url: t.replace("{tk}", &key),
                    subdomains: "01234567".to_owned(),
                    attribution: attribution.clone(),
                    max_zoom: self.max_zoom.unwrap_or(18),
                })
                .collect();
        }
        match nonempty(&self.xyz_url) {
            Some(url) => vec![TileLayer {
                url,
                subdomains: nonempty(&self.xyz_subdomains).unwrap_or_else(|| "abc".to_owned()),
                attribution: nonempty(&self.attribution).unwrap_or_default(),
                max_zoom: self.max_zoom.unwrap_or(18),
            }],
            None => Vec::new(),
        }
    }

    /// The datum the map's coordinates must be in to sit on the configured tiles.
    pub fn datum(&self) -> TileDatum {
        if self
            .tianditu_key
            .as_deref()
            .is_some_and(|k| !k.trim().is_empty())
        {
            TileDatum::Wgs84
        } else {
            self.datum
        }
    }
}

/// Per-user quota of unfinished uploads and the expiry of what nobody finished or cited.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UploadLimits {
    /// Unfinished uploads (`.part` files) one user may hold at once.
    pub parts_per_user: usize,
    /// Bytes of unfinished uploads one user may hold at once (declared totals count).
    pub part_bytes_per_user: u64,
    /// An unfinished upload untouched this long is deleted by the sweep.
    pub part_expiry_s: u64,
    /// A stored photo no applied event cites is deleted this long after its upload.
    pub unreferenced_photo_expiry_s: u64,
    /// How often the background sweep runs (it also runs once at start).
    pub sweep_interval_s: u64,
}

impl Default for UploadLimits {
    fn default() -> Self {
        UploadLimits {
            parts_per_user: 32,
            part_bytes_per_user: 200 * 1024 * 1024,
            part_expiry_s: 3 * 24 * 3600,
            unreferenced_photo_expiry_s: 7 * 24 * 3600,
            sweep_interval_s: 3600,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./xuncha-data"),
            database_url: None,
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            demo: false,
            demo_history: false,
            access_token_ttl_s: 3600,
            limits: Limits::default(),
            pg_pool_size: 16,
            uploads: UploadLimits::default(),
            verify_max_distance_m: 100.0,
            public_url: None,
            auth: AuthLimits::default(),
            connections: ConnectionLimits::default(),
            map: MapConfig::default(),
        }
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("data_dir", &self.data_dir)
            .field(
                "database_url",
                &self.database_url.as_deref().map(redact_url),
            )
            .field("bind", &self.bind)
            .field("demo", &self.demo)
            .field("demo_history", &self.demo_history)
            .field("access_token_ttl_s", &self.access_token_ttl_s)
            .field("limits", &self.limits)
            .field("pg_pool_size", &self.pg_pool_size)
            .field("uploads", &self.uploads)
            .field("verify_max_distance_m", &self.verify_max_distance_m)
            .field("public_url", &self.public_url)
            .field("auth", &self.auth)
            .field("connections", &self.connections)
            .field("map", &self.map)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is invalid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("environment variable {name} is invalid: {message}")]
    Env { name: &'static str, message: String },
}

impl ConfigError {
    pub fn code(&self) -> &'static str {
        match self {
            ConfigError::Read { .. } => "CONFIG_READ",
            ConfigError::Parse { .. } => "CONFIG_PARSE",
            ConfigError::Env { .. } => "CONFIG_ENV",
        }
    }
}

/// Environment variables the server reads; they override the file.
pub const ENV_DATABASE_URL: &str = "XUNCHA_DATABASE_URL";
pub const ENV_DATA_DIR: &str = "XUNCHA_DATA";
pub const ENV_BIND: &str = "XUNCHA_BIND";
pub const ENV_PUBLIC_URL: &str = "XUNCHA_PUBLIC_URL";
/// The 天地图 key for the dashboard's base map (`map.tianditu_key`).
pub const ENV_TIANDITU_KEY: &str = "XUNCHA_TIANDITU_KEY";

impl Config {
    /// Defaults, overlaid by the TOML file if given, overlaid by the environment.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let mut config = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })?;
                toml::from_str(&text).map_err(|e| ConfigError::Parse {
                    path: path.to_owned(),
                    message: e.to_string(),
                })?
            }
            None => Config::default(),
        };
        config.apply_env(|name| std::env::var(name).ok())?;
        Ok(config)
    }

    /// Applies environment overrides from `lookup` (a parameter so tests need no global state).
    pub fn apply_env(
        &mut self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        if let Some(url) = lookup(ENV_DATABASE_URL).filter(|v| !v.is_empty()) {
            self.database_url = Some(url);
        }
        if let Some(dir) = lookup(ENV_DATA_DIR).filter(|v| !v.is_empty()) {
            self.data_dir = PathBuf::from(dir);
        }
        if let Some(bind) = lookup(ENV_BIND).filter(|v| !v.is_empty()) {
            self.bind = bind
                .parse()
                .map_err(|e: std::net::AddrParseError| ConfigError::Env {
                    name: ENV_BIND,
                    message: e.to_string(),
                })?;
        }
        if let Some(url) = lookup(ENV_PUBLIC_URL).filter(|v| !v.is_empty()) {
            self.public_url = Some(url);
        }
        if let Some(key) = lookup(ENV_TIANDITU_KEY).filter(|v| !v.is_empty()) {
            self.map.tianditu_key = Some(key);
        }
        Ok(())
    }

    /// The configured public URL without a trailing slash, or `http://127.0.0.1:<bind port>`.
    pub fn public_url(&self) -> String {
        match self.public_url.as_deref().map(str::trim) {
            Some(url) if !url.is_empty() => url.trim_end_matches('/').to_owned(),
            _ => format!("http://127.0.0.1:{}", self.bind.port()),
        }
    }

    /// Whether users reach the server over https (then cookies are `Secure`).
    pub fn public_url_is_https(&self) -> bool {
        self.public_url
            .as_deref()
            .is_some_and(|u| u.trim().to_ascii_lowercase().starts_with("https://"))
    }

    /// Where photos live: content-addressed under the data folder.
    pub fn photo_dir(&self) -> PathBuf {
        self.data_dir.join("photos")
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "***".to_owned();
    };
    match rest.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
            None => format!("{scheme}://{userinfo}@{host}"),
        },
        None => format!("{scheme}://{rest}"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn env_wins_over_file_and_secrets_are_redacted() {
        let mut config: Config =
            toml::from_str("database_url = \"postgres://a:file@h/db\"\nbind = \"127.0.0.1:9000\"")
                .unwrap();
        config
            .apply_env(|name| match name {
                ENV_DATABASE_URL => Some("postgres://u:topsecret@db.local/x".to_owned()),
                _ => None,
            })
            .unwrap();
        assert_eq!(
            config.database_url.as_deref(),
            Some("postgres://u:topsecret@db.local/x")
        );
        assert_eq!(config.bind.port(), 9000);
        let shown = format!("{config:?}");
        assert!(!shown.contains("topsecret"), "{shown}");
        assert!(shown.contains("postgres://u:***@db.local/x"), "{shown}");
    }

    #[test]
    fn public_url_defaults_to_loopback_and_drops_a_trailing_slash() {
        let config: Config = toml::from_str("bind = \"0.0.0.0:9000\"").unwrap();
        assert_eq!(config.public_url(), "http://127.0.0.1:9000");
        let config: Config = toml::from_str("public_url = \"https://xuncha.example.cn/\"").unwrap();
        assert_eq!(config.public_url(), "https://xuncha.example.cn");
    }

    #[test]
    fn base_map_is_off_by_default_and_tianditu_or_xyz_when_configured() {
        let config = Config::default();
        assert!(config.map.tile_layers().is_empty());
        let config: Config = toml::from_str("[map]\ntianditu_key = \"abc123\"").unwrap();
        let layers = config.map.tile_layers();
        assert_eq!(layers.len(), 2);
        assert!(layers[0].url.contains("/vec_w/wmts?") && layers[0].url.ends_with("tk=abc123"));
        assert!(layers[1].url.contains("LAYER=cva"));
        assert_eq!(config.map.datum(), TileDatum::Wgs84);
        let config: Config = toml::from_str(
            "[map]\nxyz_url = \"https://webrd0{s}.is.autonavi.com/appmaptile?x={x}&y={y}&z={z}\"\nxyz_subdomains = \"1234\"\nattribution = \"高德地图\"\ndatum = \"gcj02\"",
        )
        .unwrap();
        assert_eq!(config.map.datum(), TileDatum::Gcj02);
        assert_eq!(config.map.tile_layers()[0].subdomains, "1234");
        let mut config = Config::default();
        config
            .apply_env(|n| (n == ENV_TIANDITU_KEY).then(|| "envkey".to_owned()))
            .unwrap();
        assert!(config.map.tile_layers()[0].url.ends_with("tk=envkey"));
        assert!(toml::from_str::<Config>("[map]\ndatum = \"bd09\"").is_err());
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(toml::from_str::<Config>("bnid = \"x\"").is_err());
    }
}
