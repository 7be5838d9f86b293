//! Kubernetes resource quantities (`resource.Quantity`), as far as CPU needs them.

/// Parses a Kubernetes quantity (`"2"`, `"1500m"`, `"0.5"`, `"1e3"`, `"2Ki"`, …) and returns
/// its value in thousandths (millicores for CPU), rounded up as `Quantity.MilliValue()` does.
///
/// The grammar is upstream's: an optional sign, digits with an optional fraction, then one
/// suffix: a decimal SI suffix (`n u m k M G T P E`), a binary SI suffix
/// (`Ki Mi Gi Ti Pi Ei`) or a decimal exponent (`e3`, `E-2`). Negative values are rejected
/// (CPU cannot be negative), and so are values above `u64::MAX` millis.
pub fn cpu_millis(text: &str) -> Result<u64, String> {
    let bad = |why: &str| format!("`{text}` is not a valid CPU quantity: {why}");
    let (negative, rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        Some(_) => (false, text),
        None => return Err(bad("it is empty")),
    };
    let number_len = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    let (number, suffix) = rest.split_at(number_len);
    let (int_part, frac_part) = match number.split_once('.') {
        Some((i, f)) => (i, f),
        None => (number, ""),
    };
    if frac_part.contains('.') {
        return Err(bad("more than one decimal point"));
    }
    if int_part.is_empty() && frac_part.is_empty() {
        return Err(bad("expected a number such as 2, 1500m or 0.5"));
    }
    let mut scale: i64 = -(frac_part.len() as i64);
    let mut digits: String = format!("{int_part}{frac_part}")
        .trim_start_matches('0')
        .to_string();
    while digits.ends_with('0') {
        digits.pop();
        scale += 1;
    }
    let mut binary_shift = 0u32;
    match suffix {
        "" => {}
        "n" => scale -= 9,
        "u" => scale -= 6,
        "m" => scale -= 3,
        "k" => scale += 3,
        "M" => scale += 6,
        "G" => scale += 9,
        "T" => scale += 12,
        "P" => scale += 15,
        "E" => scale += 18,
        "Ki" => binary_shift = 10,
        "Mi" => binary_shift = 20,
        "Gi" => binary_shift = 30,
        "Ti" => binary_shift = 40,
        "Pi" => binary_shift = 50,
        "Ei" => binary_shift = 60,
        s if s.starts_with(['e', 'E']) => {
            let exp = &s[1..];
            let exp_digits = exp.strip_prefix(['+', '-']).unwrap_or(exp);
            if exp_digits.is_empty() || !exp_digits.chars().all(|c| c.is_ascii_digit()) {
                return Err(bad("malformed exponent"));
            }
            let e: i64 = exp
                .parse()
                .ok()
                .filter(|e: &i64| e.abs() <= 1000)
                .ok_or_else(|| bad("exponent out of range"))?;
            scale += e;
        }
        _ => {
            return Err(bad(&format!(
                "unknown suffix `{suffix}`; expected one of m, k, M, G, T, P, E, Ki, Mi, Gi, Ti, Pi, Ei or an exponent such as e3"
            )))
        }
    }
    if digits.is_empty() {
        return Ok(0);
    }
    if negative {
        return Err(bad("CPU cannot be negative"));
    }
    let too_large = || bad("too large");
    if digits.len() > 38 {
        return Err(bad("too many significant digits"));
    }
    let mantissa: u128 = digits.parse().map_err(|_| bad("not a number"))?;
    let mantissa = mantissa
        .checked_mul(1u128 << binary_shift)
        .ok_or_else(too_large)?;
    let exp = scale + 3; // to millis
    let millis: u128 = if exp >= 0 {
        let factor = u32::try_from(exp)
            .ok()
            .and_then(|e| 10u128.checked_pow(e))
            .ok_or_else(too_large)?;
        mantissa.checked_mul(factor).ok_or_else(too_large)?
    } else {
        match u32::try_from(-exp).ok().and_then(|e| 10u128.checked_pow(e)) {
            Some(divisor) => mantissa.div_ceil(divisor),
            // Smaller than any representable divisor: a positive value below one milli.
            None => 1,
        }
    };
    u64::try_from(millis).map_err(|_| too_large())
}

#[cfg(test)]
mod tests {
    use super::cpu_millis;

    #[test]
    fn quantity_table() {
        let ok = [
            ("2", 2000),
            ("1500m", 1500),
            ("0.5", 500),
            ("4", 4000),
            (".5", 500),
            ("1.", 1000),
            ("+3", 3000),
            ("0", 0),
            ("-0", 0),
            ("0.1", 100),
            ("100u", 1),
            ("1n", 1),
            ("1k", 1_000_000),
            ("1e3", 1_000_000),
            ("1E-3", 1),
            ("2Ki", 2_048_000),
            ("1.0001", 1001),
            ("1500.00m", 1500),
            ("007", 7000),
        ];
        for (text, millis) in ok {
            assert_eq!(cpu_millis(text), Ok(millis), "{text}");
        }
        for text in [
            "", "abc", "1.2.3", "-1", "2x", "1e", "m", ".", "1 ", " 1", "1e9999", "99E",
        ] {
            assert!(cpu_millis(text).is_err(), "{text} should be rejected");
        }
    }
}
