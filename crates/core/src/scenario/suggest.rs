//! "Did you mean": the closest of a set of valid names to a misspelt one.

/// The candidate closest to `wrong`, if one is close enough to be a likely typo.
///
/// Close means: equal but for case, or at most a third of the longer name's characters apart (edits,
/// transpositions counted as one; at least one edit always allowed), or sharing a long common start
/// (Jaro-Winkler ≥ 0.9). Ties go to the smaller edit distance, then the first candidate.
pub(crate) fn closest<'a, I>(wrong: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let lower = wrong.to_lowercase();
    let mut best: Option<(usize, &'a str)> = None;
    for cand in candidates {
        if cand == wrong {
            continue;
        }
        let cand_lower = cand.to_lowercase();
        let distance = if cand_lower == lower {
            0
        } else {
            strsim::damerau_levenshtein(&lower, &cand_lower)
        };
        let longest = lower.chars().count().max(cand_lower.chars().count());
        let close = distance <= (longest / 3).max(1) && distance < longest;
        let similar = strsim::jaro_winkler(&lower, &cand_lower) >= 0.9;
        if !(close || similar) {
            continue;
        }
        if best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, cand));
        }
    }
    best.map(|(_, cand)| cand)
}

/// "did you mean `x`?" for the closest candidate, if any.
pub(crate) fn did_you_mean<'a, I>(wrong: &str, candidates: I) -> Option<String>
where
    I: IntoIterator<Item = &'a str>,
{
    closest(wrong, candidates).map(|c| format!("did you mean `{c}`?"))
}

/// `` `a`, `b`, `c` ``.
pub(crate) fn list<'a, I>(names: I) -> String
where
    I: IntoIterator<Item = &'a str>,
{
    names
        .into_iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_find_their_word() {
        let users = ["alice", "bob", "carol"];
        assert_eq!(closest("alcie", users), Some("alice"));
        assert_eq!(closest("Bob", users), Some("bob"));
        assert_eq!(closest("zed", users), None);
        let keys = ["id", "environment", "owner", "co_owners"];
        assert_eq!(closest("ownr", keys), Some("owner"));
        assert_eq!(closest("enviroment", keys), Some("environment"));
        assert_eq!(closest("xyz", keys), None);
        let skus = [
            "power-automate-per-user",
            "power-automate-process",
            "power-apps-per-app",
        ];
        assert_eq!(
            closest("power-automate-per-usr", skus),
            Some("power-automate-per-user")
        );
        assert_eq!(
            closest("power-automate-proces", skus),
            Some("power-automate-process")
        );
        assert_eq!(closest("office-365-e5", skus), None);
    }

    #[test]
    fn lists_quote_names() {
        assert_eq!(list(["a", "b"]), "`a`, `b`");
    }
}
