//! "Did you mean": the closest of a set of valid names to a misspelt one.

/// The candidates closest to `wrong`, best first, if any is close enough to be a likely typo; several when
/// they are equally close (at most three: more is no help).
///
/// In order of preference: the same name but for case; one edit away (a letter added, dropped, changed, or two
/// swapped); a longer name with all of `wrong`'s words in order (`power-automate-attended-rpa` →
/// `power-automate-per-user-attended-rpa`); at most a quarter of the characters away (at most 3 edits).
pub(crate) fn closest<'a, I>(wrong: &str, candidates: I) -> Vec<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let candidates: Vec<&'a str> = candidates.into_iter().collect();
    if candidates.len() > MANY {
        return one_edit_away(wrong, &candidates);
    }
    let lower = wrong.to_lowercase();
    let wanted = words(&lower);
    // (rank, distance, candidate); lower is better.
    let mut scored: Vec<(u8, usize, &'a str)> = Vec::new();
    // Candidates seen: a set, since thousands of ids may be close to a wrong one (`user-99999`).
    let mut seen: std::collections::HashSet<&str> = std::collections::HashSet::new();
    let allowed = (lower.chars().count() / 4).clamp(1, 3);
    let len = lower.chars().count();
    for cand in candidates {
        if cand == wrong {
            continue;
        }
        // Neither within `allowed` edits nor a longer name with `wrong`'s words: cheaper to see from the lengths
        // than from a distance (a reference checked against 20,000 users took 17 ms with every distance).
        let cand_len = cand.chars().count();
        let near = cand_len.abs_diff(len) <= allowed;
        let longer = wanted.len() >= 2 && cand_len > len;
        if !near && !longer || !seen.insert(cand) {
            continue;
        }
        let cand_lower = cand.to_lowercase();
        if cand_lower == lower {
            scored.push((0, 0, cand));
            continue;
        }
        let distance = strsim::damerau_levenshtein(&lower, &cand_lower);
        if distance == 1 {
            scored.push((1, distance, cand));
        } else if wanted.len() >= 2 && contains_in_order(&words(&cand_lower), &wanted) {
            scored.push((2, distance, cand));
        } else if distance <= allowed {
            scored.push((3, distance, cand));
        }
    }
    let Some(&(rank, distance, _)) = scored.iter().min_by_key(|(r, d, _)| (*r, *d)) else {
        return Vec::new();
    };
    let best: Vec<&str> = scored
        .iter()
        .filter(|(r, d, _)| *r == rank && (rank == 2 || *d == distance))
        .map(|(_, _, c)| *c)
        .collect();
    if best.len() > 3 { Vec::new() } else { best }
}

/// Past this many candidates (the users of a big tenant) only the same name but for case and names one edit
/// away are suggested, found without a distance matrix: a rejected write stays cheap.
const MANY: usize = 2_000;

/// The candidates equal to `wrong` but for ASCII case, else those one edit away (ASCII case aside), at most
/// three.
fn one_edit_away<'a>(wrong: &str, candidates: &[&'a str]) -> Vec<&'a str> {
    let mut same: Vec<&'a str> = Vec::new();
    let mut near: Vec<&'a str> = Vec::new();
    for &cand in candidates {
        if cand == wrong || same.contains(&cand) || near.contains(&cand) {
            continue;
        }
        if cand.eq_ignore_ascii_case(wrong) {
            same.push(cand);
        } else if one_edit(wrong.as_bytes(), cand.as_bytes()) {
            near.push(cand);
        }
    }
    let best = if same.is_empty() { near } else { same };
    if best.len() > 3 { Vec::new() } else { best }
}

/// One letter added, dropped, changed, or two neighbours swapped (ASCII case aside).
fn one_edit(a: &[u8], b: &[u8]) -> bool {
    if a.len().abs_diff(b.len()) > 1 {
        return false;
    }
    let eq = |x: &u8, y: &u8| x.eq_ignore_ascii_case(y);
    let prefix = a.iter().zip(b).take_while(|(x, y)| eq(x, y)).count();
    let suffix = a
        .iter()
        .rev()
        .zip(b.iter().rev())
        .take(a.len().min(b.len()) - prefix)
        .take_while(|(x, y)| eq(x, y))
        .count();
    let (ra, rb) = (a.len() - prefix - suffix, b.len() - prefix - suffix);
    match (ra, rb) {
        (0, 1) | (1, 0) | (1, 1) => true,
        // Two neighbours swapped: `ab` against `ba`.
        (2, 2) => match (a.get(prefix..prefix + 2), b.get(prefix..prefix + 2)) {
            (Some([a0, a1]), Some([b0, b1])) => eq(a0, b1) && eq(a1, b0),
            _ => false,
        },
        _ => false,
    }
}

/// `a-b_c.d` → `a`, `b`, `c`, `d`.
fn words(name: &str) -> Vec<&str> {
    name.split(['-', '_', '.', ' '])
        .filter(|w| !w.is_empty())
        .collect()
}

/// Whether `needle`'s words all appear in `hay`, in order.
fn contains_in_order(hay: &[&str], needle: &[&str]) -> bool {
    let mut rest = hay.iter();
    needle.iter().all(|w| rest.any(|h| h == w))
}

/// "did you mean `x`?" (or "`x` or `y`") for the closest candidates, if any.
pub(crate) fn did_you_mean<'a, I>(wrong: &str, candidates: I) -> Option<String>
where
    I: IntoIterator<Item = &'a str>,
{
    let best = closest(wrong, candidates);
    let quoted: Vec<String> = best.iter().map(|c| format!("`{c}`")).collect();
    match quoted.as_slice() {
        [] => None,
        [one] => Some(format!("did you mean {one}?")),
        [init @ .., last] => Some(format!("did you mean {} or {last}?", init.join(", "))),
    }
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
    #[test]
    fn one_edit_finds_what_the_distance_finds() {
        let pairs = [
            ("user-12", "user-13", true),
            ("user-12", "user-123", true),
            ("user-12", "user-1", true),
            ("user-12", "usre-12", true),
            ("user-12", "USER-12x", true),
            ("user-12", "user-21", true),
            ("user-12", "uesr-21", false),
            ("user-12", "user-1234", false),
            ("abc", "abc", false),
        ];
        for (a, b, want) in pairs {
            let distance = strsim::damerau_levenshtein(&a.to_lowercase(), &b.to_lowercase());
            assert_eq!(super::one_edit(a.as_bytes(), b.as_bytes()), want, "{a} / {b}");
            assert_eq!(distance == 1, want, "{a} / {b}: distance {distance}");
        }
        let many: Vec<String> = (0..5000).map(|i| format!("user-{i}")).collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        assert_eq!(
            super::closest("usre-4711", refs.iter().copied()),
            vec!["user-4711"]
        );
        assert_eq!(
            super::closest("nobody-at-all", refs.iter().copied()),
            Vec::<&str>::new()
        );
    }

    use super::*;

    #[test]
    fn typos_find_their_word() {
        let users = ["alice", "bob", "carol"];
        assert_eq!(closest("alcie", users), ["alice"]);
        assert_eq!(closest("Bob", users), ["bob"]);
        assert!(closest("zed", users).is_empty());
        let keys = ["id", "environment", "owner", "co_owners", "licenses", "cloud"];
        assert_eq!(closest("ownr", keys), ["owner"]);
        assert_eq!(closest("enviroment", keys), ["environment"]);
        assert_eq!(closest("licences", keys), ["licenses"]);
        assert!(closest("xyz", keys).is_empty());
        assert!(closest("colour", keys).is_empty());
    }

    #[test]
    fn sku_typos_find_their_sku() {
        let skus = [
            "power-automate-per-user",
            "power-automate-per-user-attended-rpa",
            "power-automate-unattended-rpa",
            "power-automate-process",
            "power-automate-per-flow",
            "power-apps-per-app",
            "power-apps-per-user",
            "ai-builder-capacity",
            "ai-builder-trial",
            "office-365-e1",
            "office-365-e3",
            "office-365-e5",
            "dynamics-365-customer-service-enterprise",
            "dynamics-365-customer-service-professional",
        ];
        assert_eq!(
            closest("power-automate-per-usr", skus),
            ["power-automate-per-user"]
        );
        assert_eq!(closest("powerapps-per-user", skus), ["power-apps-per-user"]);
        assert_eq!(closest("power-automate-proces", skus), ["power-automate-process"]);
        assert_eq!(
            closest("power-automate-attended-rpa", skus),
            ["power-automate-per-user-attended-rpa"]
        );
        assert_eq!(
            did_you_mean("dynamics-365-customer-service", skus).as_deref(),
            Some(
                "did you mean `dynamics-365-customer-service-enterprise` or `dynamics-365-customer-service-professional`?"
            )
        );
        assert_eq!(
            did_you_mean("office-365-e4", skus).as_deref(),
            Some("did you mean `office-365-e1`, `office-365-e3` or `office-365-e5`?")
        );
        // Far from everything, or near too many: no guess.
        assert!(closest("ai-builder-credits", skus).is_empty());
        assert!(closest("power-apps-per-flow", skus).is_empty());
        assert!(closest("power-automate", skus).is_empty());
    }

    #[test]
    fn lists_quote_names() {
        assert_eq!(list(["a", "b"]), "`a`, `b`");
    }
}
