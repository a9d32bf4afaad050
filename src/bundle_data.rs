//! GDAL's and PROJ's data files in a relocatable bundle. The macOS `.app` keeps them in
//! `Contents/Resources/share/{gdal,proj}` and the Windows installer in `share/` next to
//! `kestrel.exe` (`packaging/macos`, `packaging/windows`), not at the prefix GDAL was built
//! for; without `proj.db` no CRS can be reprojected. At start-up the binary points GDAL and
//! PROJ there, unless `GDAL_DATA` / `PROJ_DATA` (`PROJ_LIB`) say otherwise. A system install
//! (the Debian package, a cargo build) has no such folder and changes nothing.

use std::path::{Path, PathBuf};

/// The bundle's `share` folder for the binary at `exe`: the first of `<exe dir>/share` and
/// `<exe dir>/../Resources/share` that holds `proj/proj.db`.
pub fn share_dir(exe: &Path) -> Option<PathBuf> {
    let dir = exe.parent()?;
    [
        dir.join("share"),
        dir.join("..").join("Resources").join("share"),
    ]
    .into_iter()
    .find(|d| d.join("proj").join("proj.db").is_file())
}

/// Point GDAL and PROJ at the bundle's data, where there is a bundle (see the module doc).
/// Call once, first thing in `main`, before any GDAL call.
pub fn use_bundled_data() {
    let Some(share) = std::env::current_exe().ok().and_then(|e| share_dir(&e)) else {
        return;
    };
    let gdal_data = share.join("gdal");
    if std::env::var_os("GDAL_DATA").is_none()
        && gdal_data.is_dir()
        && let Some(p) = gdal_data.to_str()
    {
        // only fails for a path with a NUL byte, which to_str() cannot give
        let _ = gdal::config::set_config_option("GDAL_DATA", p);
    }
    if std::env::var_os("PROJ_DATA").is_none()
        && std::env::var_os("PROJ_LIB").is_none()
        && let Some(p) = share
            .join("proj")
            .to_str()
            .and_then(|p| std::ffi::CString::new(p).ok())
    {
        let paths = [p.as_ptr(), std::ptr::null()];
        // SAFETY: a NULL-terminated list of NUL-terminated strings, which PROJ copies.
        unsafe { gdal_sys::OSRSetPROJSearchPaths(paths.as_ptr()) };
    }
}

#[cfg(test)]
mod tests {
    use super::share_dir;

    #[test]
    fn finds_the_windows_and_macos_layouts_and_nothing_elsewhere() {
        let tmp = tempfile::tempdir().unwrap();
        let win = tmp.path().join("Kestrel");
        std::fs::create_dir_all(win.join("share/proj")).unwrap();
        std::fs::write(win.join("share/proj/proj.db"), b"").unwrap();
        assert_eq!(share_dir(&win.join("kestrel.exe")), Some(win.join("share")));

        let app = tmp.path().join("Kestrel.app/Contents");
        std::fs::create_dir_all(app.join("MacOS")).unwrap();
        std::fs::create_dir_all(app.join("Resources/share/proj")).unwrap();
        std::fs::write(app.join("Resources/share/proj/proj.db"), b"").unwrap();
        let found = share_dir(&app.join("MacOS/kestrel")).unwrap();
        assert!(found.join("proj/proj.db").is_file(), "{}", found.display());

        // a system install: /usr/bin/kestrel has no share/ beside it
        std::fs::create_dir_all(tmp.path().join("usr/bin")).unwrap();
        assert_eq!(share_dir(&tmp.path().join("usr/bin/kestrel")), None);
    }
}
