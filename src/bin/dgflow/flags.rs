//! Parsers for the numeric flags whose range only the CLI knows (the core checks the rest:
//! refinement settings, architecture sizes, sample counts). A value out of range stops the
//! command before it starts, with clap's message naming the flag, the value and the range.

/// A whole number in `low..=high`.
pub fn whole(low: u64, high: u64) -> impl Fn(&str) -> Result<usize, String> + Clone {
    move |text| {
        let value: u64 = text
            .trim()
            .parse()
            .map_err(|_| format!("expected a whole number from {low} to {high}"))?;
        if (low..=high).contains(&value) {
            Ok(value as usize)
        } else {
            Err(format!("expected {low} to {high}"))
        }
    }
}

/// A whole number of at least `low` (iterations and checkpoint intervals, which may be long).
pub fn at_least(low: u64) -> impl Fn(&str) -> Result<u64, String> + Clone {
    move |text| {
        let value: u64 = text
            .trim()
            .parse()
            .map_err(|_| format!("expected a whole number of at least {low}"))?;
        if value >= low { Ok(value) } else { Err(format!("expected at least {low}")) }
    }
}

/// A finite number in `(0, high]`.
pub fn positive(high: f32) -> impl Fn(&str) -> Result<f32, String> + Clone {
    move |text| {
        let value: f32 =
            text.trim().parse().map_err(|_| format!("expected a number in (0, {high}]"))?;
        if value.is_finite() && value > 0.0 && value <= high {
            Ok(value)
        } else {
            Err(format!("expected a number in (0, {high}]"))
        }
    }
}

/// A decay or moment below 1, from 0 (`include_zero`) or above it: 0.999 averages over about
/// the last 1,000 iterations.
pub fn fraction(include_zero: bool) -> impl Fn(&str) -> Result<f32, String> + Clone {
    move |text| {
        let range = if include_zero { "[0, 1)" } else { "(0, 1)" };
        let value: f32 =
            text.trim().parse().map_err(|_| format!("expected a number in {range}"))?;
        let low_ok = if include_zero { value >= 0.0 } else { value > 0.0 };
        if value.is_finite() && low_ok && value < 1.0 {
            Ok(value)
        } else {
            Err(format!("expected a number in {range}, e.g. 0.999"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_parser_takes_its_range_and_says_which_it_is() {
        assert_eq!(whole(1, 10)("10"), Ok(10));
        assert_eq!(whole(1, 10)("0"), Err("expected 1 to 10".into()));
        assert!(whole(1, 10)("-3").unwrap_err().contains("whole number from 1 to 10"));
        assert_eq!(at_least(1)("0"), Err("expected at least 1".into()));
        assert_eq!(positive(1.0)("0.5"), Ok(0.5));
        for bad in ["0", "-1", "NaN", "inf", "2"] {
            assert!(positive(1.0)(bad).is_err(), "{bad}");
        }
        assert_eq!(fraction(true)("0"), Ok(0.0));
        assert!(fraction(false)("0").unwrap_err().contains("(0, 1)"));
        assert!(fraction(true)("1").is_err() && fraction(true)("NaN").is_err());
    }
}
