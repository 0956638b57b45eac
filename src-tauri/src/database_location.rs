//! Which database file this desk opens.

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::RwLock;

/// The clinic database file this app instance works on, chosen at start-up (and
/// chosen again when an admin disconnects the desk from its clinic server).
///
/// Several desks (app instances) share one clinic by pointing at the same file.
#[derive(Debug)]
pub struct DatabaseLocation(RwLock<PathBuf>);

impl DatabaseLocation {
    /// Environment variable naming the database file; overrides the default location.
    pub const ENV: &'static str = frontdesk::storage::db::DB_ENV;

    /// File name of the database inside the app's data directory.
    pub const DEFAULT_FILE_NAME: &'static str = frontdesk::storage::db::DEFAULT_FILE_NAME;

    /// The core's rule ([`frontdesk::storage::db::location`]) with Tauri's app data
    /// directory: the file named by `FRONTDESK_DB` when it is set and not empty,
    /// else `frontdesk.sqlite3` in the app's data directory (asked for only then).
    pub fn resolve<E>(
        from_env: Option<OsString>,
        app_data_dir: impl FnOnce() -> Result<PathBuf, E>,
    ) -> Result<Self, E> {
        frontdesk::storage::db::location(from_env, app_data_dir).map(Self::at)
    }

    /// A clinic server's URL this desk was connected to.
    pub fn server(url: String) -> Self {
        Self::at(PathBuf::from(url))
    }

    fn at(path: PathBuf) -> Self {
        Self(RwLock::new(path))
    }

    /// The database file (or server URL).
    pub fn path(&self) -> PathBuf {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The desk now works on `path`.
    pub fn set(&self, path: PathBuf) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = path;
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn data_dir() -> Result<PathBuf, ()> {
        Ok(PathBuf::from("/home/desk/.local/share/org.frontdesk.desk"))
    }

    #[test]
    fn the_environment_variable_names_the_database_file() {
        let location = DatabaseLocation::resolve(
            Some("/srv/clinic/one.sqlite3".into()),
            || -> Result<PathBuf, ()> {
                panic!("the data directory must not be needed when FRONTDESK_DB is set")
            },
        )
        .unwrap();
        assert_eq!(location.path(), Path::new("/srv/clinic/one.sqlite3"));
    }

    #[test]
    fn without_the_variable_the_database_lives_in_the_app_data_directory() {
        let location = DatabaseLocation::resolve(None, data_dir).unwrap();
        assert_eq!(
            location.path(),
            Path::new("/home/desk/.local/share/org.frontdesk.desk/frontdesk.sqlite3")
        );
    }

    #[test]
    fn an_empty_variable_counts_as_unset() {
        let location = DatabaseLocation::resolve(Some(OsString::new()), data_dir).unwrap();
        assert_eq!(
            location.path().file_name().unwrap(),
            DatabaseLocation::DEFAULT_FILE_NAME,
            "an empty FRONTDESK_DB must fall back to the default file"
        );
    }
}
