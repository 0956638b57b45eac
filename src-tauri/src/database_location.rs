//! Which database file this desk opens.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The clinic database file this app instance works on, chosen once at start-up.
///
/// Several desks (app instances) share one clinic by pointing at the same file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseLocation(PathBuf);

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
        frontdesk::storage::db::location(from_env, app_data_dir).map(Self)
    }

    /// The database file.
    /// A clinic server's URL this desk was connected to.
    pub fn server(url: String) -> Self {
        Self(PathBuf::from(url))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

#[cfg(test)]
mod tests {
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
