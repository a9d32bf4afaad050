//! The one geometry a tile index holds: a 2D one-ring polygon as ISO WKB.

/// Little-endian ISO WKB of a one-ring 2D polygon.
pub(super) fn polygon_wkb(ring: &[[f64; 2]]) -> Vec<u8> {
    let mut b = Vec::with_capacity(13 + 16 * ring.len());
    b.push(1u8);
    b.extend_from_slice(&3u32.to_le_bytes());
    b.extend_from_slice(&1u32.to_le_bytes());
    b.extend_from_slice(&(ring.len() as u32).to_le_bytes());
    for p in ring {
        b.extend_from_slice(&p[0].to_le_bytes());
        b.extend_from_slice(&p[1].to_le_bytes());
    }
    b
}

/// Parse a 2D WKB Polygon with one ring (either byte order).
pub(super) fn parse_polygon_wkb(b: &[u8]) -> Result<Vec<[f64; 2]>, String> {
    let little = match b.first().copied() {
        Some(1) => true,
        Some(0) => false,
        _ => return Err("geometry is not WKB".into()),
    };
    let word = |at: usize| -> Result<[u8; 4], String> {
        b.get(at..at + 4)
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| "geometry WKB is cut short".to_string())
    };
    let u32_at = |at: usize| -> Result<u32, String> {
        let w = word(at)?;
        Ok(if little {
            u32::from_le_bytes(w)
        } else {
            u32::from_be_bytes(w)
        })
    };
    let kind = u32_at(1)?;
    if kind != 3 {
        return Err(format!("geometry is WKB type {kind}, not a 2D Polygon (3)"));
    }
    let rings = u32_at(5)?;
    if rings != 1 {
        return Err(format!("polygon has {rings} rings, a tile has 1"));
    }
    let n = u32_at(9)? as usize;
    if b.len() != 13 + 16 * n {
        return Err(format!(
            "polygon WKB is {} bytes, {n} points need {}",
            b.len(),
            13 + 16 * n
        ));
    }
    let f64_at = |at: usize| -> f64 {
        let mut w = [0u8; 8];
        w.copy_from_slice(&b[at..at + 8]);
        if little {
            f64::from_le_bytes(w)
        } else {
            f64::from_be_bytes(w)
        }
    };
    Ok((0..n)
        .map(|i| [f64_at(13 + 16 * i), f64_at(21 + 16 * i)])
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wkb_round_trip_and_big_endian() {
        let ring = vec![[1.5, 2.25], [3.0, 2.25], [3.0, 4.0], [1.5, 2.25]];
        let wkb = polygon_wkb(&ring);
        assert_eq!(wkb.len(), 13 + 16 * 4);
        assert_eq!(&wkb[..5], &[1, 3, 0, 0, 0]);
        assert_eq!(parse_polygon_wkb(&wkb).unwrap(), ring);

        let mut be = vec![0u8];
        be.extend_from_slice(&3u32.to_be_bytes());
        be.extend_from_slice(&1u32.to_be_bytes());
        be.extend_from_slice(&4u32.to_be_bytes());
        for p in &ring {
            be.extend_from_slice(&p[0].to_be_bytes());
            be.extend_from_slice(&p[1].to_be_bytes());
        }
        assert_eq!(parse_polygon_wkb(&be).unwrap(), ring);

        assert!(
            parse_polygon_wkb(&wkb[..wkb.len() - 1])
                .unwrap_err()
                .contains("bytes")
        );
        let mut point = wkb.clone();
        point[1] = 1;
        assert!(parse_polygon_wkb(&point).unwrap_err().contains("type 1"));
    }
}
