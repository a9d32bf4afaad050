//! `kestrel info FILE [--json]` through the real binary: the documented JSON keys with
//! real values, the text report, and a clear error for a missing file.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn kestrel(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_kestrel"))
        .args(args)
        .output()
        .expect("run kestrel")
}

fn info_json(path: &Path) -> Value {
    let out = kestrel(&["info", "--json", path.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("valid JSON")
}

#[test]
fn json_for_an_msclip_chip() {
    let chip = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/chips/637U_59R_1_3.tif");
    let j = info_json(&chip);
    assert_eq!(j["kestrel_info_version"], 1);
    assert_eq!(j["source_kind"], "file");
    assert_eq!(j["driver"], "GTiff");
    assert_eq!(
        (j["width"].as_u64(), j["height"].as_u64()),
        (Some(224), Some(224))
    );
    assert_eq!(j["resolution_m"], 10.0);
    assert_eq!(j["crs"]["epsg"], 32632);
    assert!(j["crs"]["wkt"].as_str().unwrap().contains("UTM zone 32N"));
    assert_eq!(j["level"], "L2A");
    assert_eq!(j["bands_confirmed"], true);
    assert_eq!(j["radiometry"]["offset"], 0.0);
    assert_eq!(j["radiometry"]["scale_to_10000"], 1.0);
    assert_eq!(j["radiometry"]["offset_evidence"], "detected");
    assert_eq!(j["radiometry"]["zero_is_nodata"], true);
    let bands = j["bands"].as_array().unwrap();
    assert_eq!(bands.len(), 12);
    let roles: Vec<&str> = bands.iter().map(|b| b["role"].as_str().unwrap()).collect();
    assert_eq!(
        roles,
        [
            "B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12"
        ]
    );
    assert_eq!(bands[8]["wavelength_nm"], 865.0);
    assert_eq!(bands[8]["data_type"], "Int16");
    assert_eq!(bands[8]["nodata"], Value::Null);
    assert_eq!(bands[8]["kestrel_gain"], 1.0);
    assert_eq!(bands[8]["index"], 9);
    // Bounds (gdalinfo: origin and 224 px of 10 m).
    let b = &j["bounds"];
    let w = b["max_x"].as_f64().unwrap() - b["min_x"].as_f64().unwrap();
    assert!((w - 2240.0).abs() < 1e-6, "{b}");
    let ll = &j["bounds_wgs84"];
    assert!(
        ll["min_y"].as_f64().unwrap() > 57.0 && ll["max_y"].as_f64().unwrap() < 57.5,
        "{ll}"
    );
}

#[test]
fn json_for_corrientes_reports_offset_and_nan_nodata() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/turb-corrientes-l2a/20231217.tif");
    if !p.exists() {
        eprintln!("skipping: {} not found", p.display());
        return;
    }
    let j = info_json(&p);
    assert_eq!(j["radiometry"]["offset"], -1000.0);
    assert_eq!(j["radiometry"]["offset_evidence"], "detected");
    assert_eq!(j["bands"][0]["nodata"], "nan");
    assert_eq!(j["bands"][0]["kestrel_offset"], -1000.0);
    assert_eq!(j["bands"][11]["role"], "CLD");
    assert_eq!(j["bands"][11]["kestrel_offset"], 0.0);
    assert_eq!(j["crs"]["epsg"], 32721);
    assert_eq!(
        j["geo_transform"],
        serde_json::json!([315040.0, 10.0, 0.0, 6961370.0, 0.0, -10.0])
    );
}

#[test]
fn text_report_and_errors() {
    let chip = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/chips/433D_629L_3_1.tif");
    let out = kestrel(&["info", chip.to_str().unwrap()]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("CRS:        EPSG:32718 (WGS 84 / UTM zone 18S)"),
        "{text}"
    );
    assert!(
        text.contains("Radiometry: reflectance x 10000 = raw x 1 - 1000"),
        "{text}"
    );
    assert!(
        text.contains("BOA offset −1000 DN removed, detected"),
        "{text}"
    );
    assert!(text.contains("   9  B8A        10  Int16"), "{text}");

    let out = kestrel(&["info", "/nonexistent/scene.tif"]);
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("kestrel: error: /nonexistent/scene.tif: no such file or folder"),
        "{err}"
    );
}
