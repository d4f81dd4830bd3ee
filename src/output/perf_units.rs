//! How `perf` writes quantities for people: transfers with binary prefixes (KiB =
//! 1024 bytes), bitrates with decimal ones (Mbit/s = 10⁶ bit/s), as iperf3 does.

use std::fmt;

/// Bytes with a binary prefix and three significant digits, as iperf3 shows transfers.
pub struct Bytes(pub u64);

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
        let mut v = self.0 as f64;
        let mut unit = 0;
        while v >= 1000.0 && unit < UNITS.len() - 1 {
            v /= 1024.0;
            unit += 1;
        }
        three_digits(f, v, UNITS[unit])
    }
}

/// Bits per second with a decimal prefix and three significant digits.
pub struct Rate(pub f64);

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [&str; 5] = ["bit/s", "kbit/s", "Mbit/s", "Gbit/s", "Tbit/s"];
        let mut v = if self.0.is_finite() {
            self.0.max(0.0)
        } else {
            0.0
        };
        let mut unit = 0;
        while v >= 999.5 && unit < UNITS.len() - 1 {
            v /= 1000.0;
            unit += 1;
        }
        three_digits(f, v, UNITS[unit])
    }
}

fn three_digits(f: &mut fmt::Formatter<'_>, v: f64, unit: &str) -> fmt::Result {
    if v == 0.0 || unit == "B" || unit == "bit/s" {
        write!(f, "{:.0} {unit}", v)
    } else if v < 9.995 {
        write!(f, "{v:.2} {unit}")
    } else if v < 99.95 {
        write!(f, "{v:.1} {unit}")
    } else {
        write!(f, "{v:.0} {unit}")
    }
}

/// Microseconds, as µs below 10 ms and as ms above.
pub struct Micros(pub u32);

impl fmt::Display for Micros {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 < 10_000 {
            write!(f, "{} µs", self.0)
        } else {
            write!(f, "{:.1} ms", f64::from(self.0) / 1000.0)
        }
    }
}

/// A share in percent, with as many decimals as a small one needs.
pub struct Percent(pub f64);

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            0.0 => f.write_str("0%"),
            p if p < 0.01 => write!(f, "{p:.4}%"),
            p if p < 10.0 => write!(f, "{p:.2}%"),
            p => write!(f, "{p:.1}%"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_read_as_iperf3s() {
        assert_eq!(Bytes(2_621_440).to_string(), "2.50 MiB");
        assert_eq!(Bytes(0).to_string(), "0 B");
        assert_eq!(Bytes(512).to_string(), "512 B");
        assert_eq!(Bytes(28_346_654_720).to_string(), "26.4 GiB");
        assert_eq!(Rate(10_485_330.1).to_string(), "10.5 Mbit/s");
        assert_eq!(Rate(22_700_000_000.0).to_string(), "22.7 Gbit/s");
        assert_eq!(Rate(999_600.0).to_string(), "1.00 Mbit/s");
        assert_eq!(Rate(f64::NAN).to_string(), "0 bit/s");
        assert_eq!(Micros(25).to_string(), "25 µs");
        assert_eq!(Micros(12_345).to_string(), "12.3 ms");
        assert_eq!(Percent(0.013).to_string(), "0.01%");
        assert_eq!(Percent(0.0013).to_string(), "0.0013%");
    }
}
