//! The CVSS v3.0/v3.1 base score of a vector string (the formula of the CVSS v3.1
//! specification, section 7.1), which is how OSV records carry severity.

/// `CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H` -> `9.8`; `None` for anything else.
pub(crate) fn base_score_v3(vector: &str) -> Option<f64> {
    let mut parts = vector.split('/');
    let version = parts.next()?;
    if version != "CVSS:3.0" && version != "CVSS:3.1" {
        return None;
    }
    let (mut av, mut ac, mut pr, mut ui, mut scope, mut c, mut i, mut a) =
        (None, None, None, None, None, None, None, None);
    for part in parts {
        let (metric, value) = part.split_once(':')?;
        match metric {
            "AV" => av = Some(value),
            "AC" => ac = Some(value),
            "PR" => pr = Some(value),
            "UI" => ui = Some(value),
            "S" => scope = Some(value),
            "C" => c = Some(value),
            "I" => i = Some(value),
            "A" => a = Some(value),
            _ => {}
        }
    }
    let changed = match scope? {
        "U" => false,
        "C" => true,
        _ => return None,
    };
    let attack_vector = match av? {
        "N" => 0.85,
        "A" => 0.62,
        "L" => 0.55,
        "P" => 0.2,
        _ => return None,
    };
    let attack_complexity = match ac? {
        "L" => 0.77,
        "H" => 0.44,
        _ => return None,
    };
    let privileges = match (pr?, changed) {
        ("N", _) => 0.85,
        ("L", false) => 0.62,
        ("L", true) => 0.68,
        ("H", false) => 0.27,
        ("H", true) => 0.5,
        _ => return None,
    };
    let interaction = match ui? {
        "N" => 0.85,
        "R" => 0.62,
        _ => return None,
    };
    let impact_of = |value: Option<&str>| match value? {
        "H" => Some(0.56),
        "L" => Some(0.22),
        "N" => Some(0.0),
        _ => None,
    };
    let (confidentiality, integrity, availability) = (impact_of(c)?, impact_of(i)?, impact_of(a)?);
    let iss = 1.0 - (1.0 - confidentiality) * (1.0 - integrity) * (1.0 - availability);
    let impact = if changed {
        7.52 * (iss - 0.029) - 3.25 * (iss - 0.02_f64).powi(15)
    } else {
        6.42 * iss
    };
    let exploitability = 8.22 * attack_vector * attack_complexity * privileges * interaction;
    if impact <= 0.0 {
        return Some(0.0);
    }
    let total = if changed {
        1.08 * (impact + exploitability)
    } else {
        impact + exploitability
    };
    Some(round_up(total.min(10.0)))
}

/// CVSS v3.1 `Roundup`: the smallest number with one decimal that is not below `value`,
/// computed on integers to avoid floating-point surprises (Appendix A).
fn round_up(value: f64) -> f64 {
    #[expect(
        clippy::cast_possible_truncation,
        reason = "scores are between 0 and 10"
    )]
    let integer = (value * 100_000.0).round() as i64;
    if integer % 10_000 == 0 {
        integer as f64 / 100_000.0
    } else {
        ((integer / 10_000) + 1) as f64 / 10.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_match_the_specification_examples() {
        // Scores as NVD shows them for these vectors.
        for (vector, score) in [
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8),
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", 7.5),
            ("CVSS:3.1/AV:L/AC:L/PR:L/UI:R/S:U/C:L/I:N/A:N", 2.8),
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1),
            ("CVSS:3.0/AV:N/AC:H/PR:N/UI:N/S:U/C:N/I:N/A:N", 0.0),
        ] {
            assert_eq!(base_score_v3(vector), Some(score), "{vector}");
        }
        assert_eq!(base_score_v3("CVSS:4.0/AV:N"), None);
        assert_eq!(
            base_score_v3("CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"),
            None
        );
    }
}
