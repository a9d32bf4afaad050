//! Sentinel-2 bands and band identification: the 13 MSI bands with their centre
//! wavelength and native resolution, the role a raster band plays in a scene
//! ([`BandRole`]), and the rules that recognise a band from a GDAL band description, a
//! SENTINEL2-driver `BANDNAME`, a file name, or a band-count convention. Pure logic, no
//! GDAL calls.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One of the 13 Sentinel-2 MSI bands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum S2Band {
    B01,
    B02,
    B03,
    B04,
    B05,
    B06,
    B07,
    B08,
    B8A,
    B09,
    B10,
    B11,
    B12,
}

impl S2Band {
    /// All 13 bands in the L1C product order.
    pub const ALL: [S2Band; 13] = [
        S2Band::B01,
        S2Band::B02,
        S2Band::B03,
        S2Band::B04,
        S2Band::B05,
        S2Band::B06,
        S2Band::B07,
        S2Band::B08,
        S2Band::B8A,
        S2Band::B09,
        S2Band::B10,
        S2Band::B11,
        S2Band::B12,
    ];
    /// The canonical 12-band L2A order (no B10): BigEarthNet, SSL4EO-S12, MajorTOM, MS-CLIP.
    pub const L2A_12: [S2Band; 12] = [
        S2Band::B01,
        S2Band::B02,
        S2Band::B03,
        S2Band::B04,
        S2Band::B05,
        S2Band::B06,
        S2Band::B07,
        S2Band::B08,
        S2Band::B8A,
        S2Band::B09,
        S2Band::B11,
        S2Band::B12,
    ];
    /// The 10 bands at 10 and 20 m, in wavelength order: the Llama3-MS-CLIP input and the
    /// usual 10-band stack (ARCSI, many analysis-ready products).
    pub const MSCLIP_10: [S2Band; 10] = [
        S2Band::B02,
        S2Band::B03,
        S2Band::B04,
        S2Band::B05,
        S2Band::B06,
        S2Band::B07,
        S2Band::B08,
        S2Band::B8A,
        S2Band::B11,
        S2Band::B12,
    ];

    /// ESA name, zero-padded: `B02`, `B8A`.
    pub fn name(self) -> &'static str {
        match self {
            S2Band::B01 => "B01",
            S2Band::B02 => "B02",
            S2Band::B03 => "B03",
            S2Band::B04 => "B04",
            S2Band::B05 => "B05",
            S2Band::B06 => "B06",
            S2Band::B07 => "B07",
            S2Band::B08 => "B08",
            S2Band::B8A => "B8A",
            S2Band::B09 => "B09",
            S2Band::B10 => "B10",
            S2Band::B11 => "B11",
            S2Band::B12 => "B12",
        }
    }

    /// Short human name of the spectral region.
    pub fn common_name(self) -> &'static str {
        match self {
            S2Band::B01 => "coastal aerosol",
            S2Band::B02 => "blue",
            S2Band::B03 => "green",
            S2Band::B04 => "red",
            S2Band::B05 => "red edge 1",
            S2Band::B06 => "red edge 2",
            S2Band::B07 => "red edge 3",
            S2Band::B08 => "NIR",
            S2Band::B8A => "narrow NIR",
            S2Band::B09 => "water vapour",
            S2Band::B10 => "cirrus",
            S2Band::B11 => "SWIR 1",
            S2Band::B12 => "SWIR 2",
        }
    }

    /// Central wavelength in nanometres (GDAL sentinel2 driver table).
    pub fn wavelength_nm(self) -> f64 {
        match self {
            S2Band::B01 => 443.0,
            S2Band::B02 => 490.0,
            S2Band::B03 => 560.0,
            S2Band::B04 => 665.0,
            S2Band::B05 => 705.0,
            S2Band::B06 => 740.0,
            S2Band::B07 => 783.0,
            S2Band::B08 => 842.0,
            S2Band::B8A => 865.0,
            S2Band::B09 => 945.0,
            S2Band::B10 => 1375.0,
            S2Band::B11 => 1610.0,
            S2Band::B12 => 2190.0,
        }
    }

    /// Native ground sampling distance of the band in metres.
    pub fn native_resolution_m(self) -> f64 {
        match self {
            S2Band::B02 | S2Band::B03 | S2Band::B04 | S2Band::B08 => 10.0,
            S2Band::B05 | S2Band::B06 | S2Band::B07 | S2Band::B8A | S2Band::B11 | S2Band::B12 => {
                20.0
            }
            S2Band::B01 | S2Band::B09 | S2Band::B10 => 60.0,
        }
    }

    /// Parse `B2`, `B02`, `b8a`, `B8A`, `B10` (exactly a band token, nothing around it).
    pub fn from_name(s: &str) -> Option<S2Band> {
        let u = s.trim().to_ascii_uppercase();
        let rest = u.strip_prefix('B')?;
        if rest == "8A" {
            return Some(S2Band::B8A);
        }
        if rest.is_empty() || rest.len() > 2 || !rest.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        match rest.parse::<u8>().ok()? {
            1 => Some(S2Band::B01),
            2 => Some(S2Band::B02),
            3 => Some(S2Band::B03),
            4 => Some(S2Band::B04),
            5 => Some(S2Band::B05),
            6 => Some(S2Band::B06),
            7 => Some(S2Band::B07),
            8 => Some(S2Band::B08),
            9 => Some(S2Band::B09),
            10 => Some(S2Band::B10),
            11 => Some(S2Band::B11),
            12 => Some(S2Band::B12),
            _ => None,
        }
    }

    /// Index of the band in the 13-band L1C order (0-based); also the `band_id` of the
    /// SAFE metadata (`BOA_ADD_OFFSET band_id="8"` is B8A).
    pub fn l1c_index(self) -> usize {
        S2Band::ALL.iter().position(|b| *b == self).unwrap_or(0)
    }
}

impl std::fmt::Display for S2Band {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What a raster band of a scene holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BandRole {
    /// A Sentinel-2 reflectance band.
    Spectral(S2Band),
    /// The L2A scene classification layer (categorical, 0–11).
    Scl,
    /// Cloud probability 0–100 (`MSK_CLDPRB`, GDAL `CLD`).
    CloudProb,
    /// Snow probability 0–100 (`MSK_SNWPRB`, GDAL `SNW`).
    SnowProb,
    /// Anything else (unidentified, or an auxiliary layer).
    Other,
}

impl BandRole {
    /// Stable short label: `B02`, `SCL`, `CLD`, `SNW`, `other` (used in JSON).
    pub fn label(&self) -> &'static str {
        match self {
            BandRole::Spectral(b) => b.name(),
            BandRole::Scl => "SCL",
            BandRole::CloudProb => "CLD",
            BandRole::SnowProb => "SNW",
            BandRole::Other => "other",
        }
    }

    pub fn from_label(s: &str) -> Option<BandRole> {
        match s.trim().to_ascii_uppercase().as_str() {
            "SCL" => Some(BandRole::Scl),
            "CLD" => Some(BandRole::CloudProb),
            "SNW" => Some(BandRole::SnowProb),
            "OTHER" => Some(BandRole::Other),
            other => S2Band::from_name(other).map(BandRole::Spectral),
        }
    }

    pub fn spectral(&self) -> Option<S2Band> {
        match self {
            BandRole::Spectral(b) => Some(*b),
            _ => None,
        }
    }

    /// Class maps must be resampled with nearest neighbour, never interpolated.
    pub fn is_categorical(&self) -> bool {
        matches!(self, BandRole::Scl)
    }
}

impl std::fmt::Display for BandRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

impl Serialize for BandRole {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.label())
    }
}

impl<'de> Deserialize<'de> for BandRole {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        BandRole::from_label(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown band role {s:?}")))
    }
}

impl Serialize for S2Band {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for S2Band {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        S2Band::from_name(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown Sentinel-2 band {s:?}")))
    }
}

/// Split a name into alphanumeric tokens: `T33UUU_20170216T102101_B8A.jp2` →
/// `T33UUU`, `20170216T102101`, `B8A`, `jp2`.
fn tokens(s: &str) -> impl Iterator<Item = &str> {
    s.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|t| !t.is_empty())
}

/// Role named by a token of a text (a band description, a SENTINEL2 `BANDNAME`, or a
/// file name). Returns the role and the token that named it. Only whole tokens count,
/// so `S2B_MSIL2A` does not name B02 and `Band 1` names nothing.
pub fn role_from_text(text: &str) -> Option<(BandRole, String)> {
    let mut found: Option<(BandRole, String)> = None;
    for t in tokens(text) {
        let up = t.to_ascii_uppercase();
        let role = match up.as_str() {
            "SCL" => Some(BandRole::Scl),
            "CLD" | "CLDPRB" | "CLOUDPROB" | "CLOUDPROBABILITY" | "CLP" => {
                Some(BandRole::CloudProb)
            }
            "SNW" | "SNWPRB" | "SNOWPROB" | "SNOWPROBABILITY" => Some(BandRole::SnowProb),
            _ => S2Band::from_name(&up).map(BandRole::Spectral),
        };
        if let Some(r) = role {
            // The last band token wins: `MSK_CLDPRB_20m` → CLD, `..._B02_10m` → B02.
            found = Some((r, t.to_owned()));
        }
    }
    found
}

/// Roles implied by a band-count convention, with the reason, when nothing in the file
/// names its bands. `confirmed` is false for conventions that are only likely.
pub struct Convention {
    pub roles: Vec<BandRole>,
    pub reason: &'static str,
    pub confirmed: bool,
}

pub fn convention_for_count(n: usize) -> Option<Convention> {
    match n {
        13 => Some(Convention {
            roles: S2Band::ALL.iter().map(|b| BandRole::Spectral(*b)).collect(),
            reason: "13-band convention: the L1C order B01-B12 with B8A and B10",
            confirmed: true,
        }),
        12 => Some(Convention {
            roles: S2Band::L2A_12
                .iter()
                .map(|b| BandRole::Spectral(*b))
                .collect(),
            reason: "12-band convention: the L2A order B01-B12 with B8A, without B10 \
                     (BigEarthNet, SSL4EO-S12, MajorTOM)",
            confirmed: true,
        }),
        10 => Some(Convention {
            roles: S2Band::MSCLIP_10
                .iter()
                .map(|b| BandRole::Spectral(*b))
                .collect(),
            reason: "10-band convention, unconfirmed: the 10 and 20 m bands B02-B08, B8A, \
                     B11, B12 in wavelength order (ARCSI stacks, MS-CLIP input); nothing \
                     in the file names them, assign bands if this is wrong",
            confirmed: false,
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_band_names() {
        assert_eq!(S2Band::from_name("B2"), Some(S2Band::B02));
        assert_eq!(S2Band::from_name("b8a"), Some(S2Band::B8A));
        assert_eq!(S2Band::from_name("B10"), Some(S2Band::B10));
        assert_eq!(S2Band::from_name("B13"), None);
        assert_eq!(S2Band::from_name("B"), None);
        assert_eq!(S2Band::from_name("B123"), None);
        assert_eq!(S2Band::B8A.l1c_index(), 8);
        assert_eq!(S2Band::B12.l1c_index(), 12);
    }

    #[test]
    fn identifies_roles_from_file_names() {
        let r = |s: &str| role_from_text(s).map(|(r, _)| r);
        assert_eq!(
            r("T33UUU_20170216T102101_B8A.jp2"),
            Some(BandRole::Spectral(S2Band::B8A))
        );
        assert_eq!(
            r("S2A_MSIL2A_20170613T101031_87_48_B01.tif"),
            Some(BandRole::Spectral(S2Band::B01))
        );
        assert_eq!(
            r("T34UCF_20230823T095559_B02_10m.jp2"),
            Some(BandRole::Spectral(S2Band::B02))
        );
        assert_eq!(r("T34UCF_20230823T095559_SCL_20m.jp2"), Some(BandRole::Scl));
        assert_eq!(r("MSK_CLDPRB_20m.jp2"), Some(BandRole::CloudProb));
        assert_eq!(r("MSK_SNWPRB_20m.jp2"), Some(BandRole::SnowProb));
        assert_eq!(
            r("B5, central wavelength 705 nm"),
            Some(BandRole::Spectral(S2Band::B05))
        );
        assert_eq!(r("S2B_MSIL2A_20230823"), None);
        assert_eq!(r("Band 1"), None);
        assert_eq!(r("QA60"), None);
    }

    #[test]
    fn role_labels_round_trip() {
        for role in [
            BandRole::Spectral(S2Band::B8A),
            BandRole::Scl,
            BandRole::CloudProb,
            BandRole::SnowProb,
            BandRole::Other,
        ] {
            assert_eq!(BandRole::from_label(role.label()), Some(role));
            let json = serde_json::to_string(&role).unwrap();
            let back: BandRole = serde_json::from_str(&json).unwrap();
            assert_eq!(back, role);
        }
        assert_eq!(
            serde_json::to_string(&BandRole::Spectral(S2Band::B02)).unwrap(),
            "\"B02\""
        );
    }

    #[test]
    fn conventions_by_count() {
        let c12 = convention_for_count(12).unwrap();
        assert_eq!(c12.roles[8], BandRole::Spectral(S2Band::B8A));
        assert_eq!(c12.roles[10], BandRole::Spectral(S2Band::B11));
        assert!(c12.confirmed);
        let c13 = convention_for_count(13).unwrap();
        assert_eq!(c13.roles[10], BandRole::Spectral(S2Band::B10));
        let c10 = convention_for_count(10).unwrap();
        assert_eq!(c10.roles[0], BandRole::Spectral(S2Band::B02));
        assert_eq!(c10.roles[9], BandRole::Spectral(S2Band::B12));
        assert!(!c10.confirmed);
        assert!(convention_for_count(4).is_none());
    }
}
