//! Text samples decoded into sentences.

/// Decodes text samples `[vocab, length]` (a distribution per position) by argmax.
pub fn decode_text(samples: &[f32], n: usize, shape: &[usize], vocab: &[String]) -> Vec<String> {
    let (v, len) = (shape[0], shape[1]);
    (0..n)
        .map(|i| {
            let s = &samples[i * v * len..(i + 1) * v * len];
            (0..len)
                .map(|pos| {
                    let best = (0..v)
                        .max_by(|&a, &b| s[a * len + pos].total_cmp(&s[b * len + pos]))
                        .unwrap_or(0);
                    vocab[best].as_str()
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_decoded_by_argmax_per_position() {
        let vocab: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        // one sample, vocab 3 × length 2: position 0 → c, position 1 → a
        let samples = [0.1, 0.7, 0.2, 0.2, 0.7, 0.1];
        assert_eq!(decode_text(&samples, 1, &[3, 2], &vocab), ["ca"]);
    }
}
