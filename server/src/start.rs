//! Starting the whole server: open the configured storage (running migrations), seed the demo
//! data when asked, then serve ([`crate::http::app::Server::serve`]). It sits on top of the
//! layers because seeding is the `demo` module's (which the HTTP layer must not import).

use std::sync::Arc;

use crate::config::Config;
use crate::demo;
use crate::http::app::{RunningServer, Server, StartError};
use crate::storage::{self, Storage};

impl Server {
    /// Opens storage (running migrations), seeds demo data if asked (`demo`: estates, units and
    /// accounts; `demo_history`: those and a quarter of cases, into a database without cases),
    /// binds and serves.
    pub async fn start(config: Config) -> Result<RunningServer, StartError> {
        let storage = storage::open(&config).await?;
        Server::start_with_storage(config, storage).await
    }

    /// [`Server::start`] on a storage opened by the caller.
    pub async fn start_with_storage(
        config: Config,
        storage: Arc<dyn Storage>,
    ) -> Result<RunningServer, StartError> {
        let demo_accounts = if config.demo || config.demo_history {
            demo::seed(storage.as_ref()).await?
        } else {
            Vec::new()
        };
        let demo_history = if config.demo_history {
            demo::history::seed(storage.clone(), &config, &demo_accounts).await?
        } else {
            None
        };
        Server::serve(config, storage, demo_accounts, demo_history).await
    }
}
