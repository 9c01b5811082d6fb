//! Reading YAML as kubectl does: resolution, aliases and merges, caps, and refusals.
use serde_json::json;

use super::*;

fn read(text: &str) -> Result<Value, String> {
    let budget = ValueBudget::new();
    budget.grant(text.len());
    read_document(text, &budget).map_err(|e| e.message)
}

#[test]
fn plain_scalars_resolve_and_quoted_ones_stay_strings() {
    let value = read("mode: 0644\nquoted: '0644'\non: on\nq: \"on\"\nhex: 0x1F\nnothing: ~\n");
    assert_eq!(
        value,
        Ok(
            json!({"mode": 420, "quoted": "0644", "true": true, "q": "on", "hex": 31, "nothing": null})
        )
    );
}

#[test]
fn list_items_are_located() {
    let budget = ValueBudget::new();
    let text = "kind: List\nitems:\n- a: 1\n  b: [2]\n- {c: 3}\n-\n  d: 4\n";
    let document = read_document_with_items(text, &budget).ok();
    assert_eq!(document.map(|d| d.item_lines), Some(vec![3, 5, 7]));
}

#[test]
fn a_wide_alias_bomb_is_refused_before_it_expands() {
    // 2,000 values referenced 2,000 times: four million values from a 14 kB document.
    let items = vec!["x"; 2_000].join(",");
    let refs = vec!["*a"; 2_000].join(",");
    let text = format!("a: &a [{items}]\nb: [{refs}]\n");
    let error = read(&text).err().unwrap_or_default();
    assert!(error.contains("refusing to load them"), "{error}");
}

#[test]
fn a_nested_alias_bomb_is_refused() {
    let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let refs = vec![format!("*a{}", i - 1); 10].join(", ");
        text.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
    }
    let error = read(&text).err().unwrap_or_default();
    assert!(error.contains("refusing to load them"), "{error}");
}

#[test]
fn the_budget_is_shared_between_documents() {
    let budget = ValueBudget::new();
    let items = vec!["x"; 1_000].join(",");
    let refs = vec!["*a"; 100].join(",");
    let text = format!("a: &a [{items}]\nb: [{refs}]\n");
    // Each document builds about 100,000 values: a few fit, then the floor is spent.
    let loaded = (0..10)
        .take_while(|_| read_document(&text, &budget).is_ok())
        .count();
    assert!((1..10).contains(&loaded), "{loaded}");
}

#[test]
fn aliases_cannot_nest_past_the_depth_cap() {
    let open = "[".repeat(100);
    let close = "]".repeat(100);
    let text = format!(
        "a: &a {open}1{close}\nb: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[*a]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n"
    );
    let error = read(&text).err().unwrap_or_default();
    assert!(error.contains("nesting deeper than 128"), "{error}");
}

#[test]
fn repeated_keys_are_refused_even_when_equal_only_once_read() {
    let error = read("a: 1\nb: 2\na: 3\n").err().unwrap_or_default();
    assert!(error.contains("duplicate key \"a\""), "{error}");
    let error = read("1: a\n\"1\": b\n").err().unwrap_or_default();
    assert!(error.contains("duplicate key \"1\""), "{error}");
}

#[test]
fn merges_apply_in_order_as_go_yaml_v2_does() {
    let base = "b: &b {a: 1, c: 2}\n";
    assert_eq!(
        read(&format!("{base}x: {{<<: *b, a: 3}}\n")).map(|v| v["x"].clone()),
        Ok(json!({"a": 3, "c": 2}))
    );
    assert_eq!(
        read(&format!("{base}x: {{a: 3, <<: *b}}\n")).map(|v| v["x"].clone()),
        Ok(json!({"a": 1, "c": 2}))
    );
    assert_eq!(
        read("x: {<<: [{a: 1}, {a: 2, d: 1}]}\n").map(|v| v["x"].clone()),
        Ok(json!({"a": 1, "d": 1}))
    );
    assert_eq!(
        read("x: {'<<': {a: 1}}\n").map(|v| v["x"].clone()),
        Ok(json!({"<<": {"a": 1}}))
    );
    assert!(read("x: {<<: 1}\n").is_err());
    // Tagged `!!merge`, as kubectl (and kustomize) read it, `<<` merges even quoted.
    assert_eq!(
        read("x: {!!merge <<: {a: 1}}\n").map(|v| v["x"].clone()),
        Ok(json!({"a": 1}))
    );
    assert_eq!(
        read("x: {!!merge '<<': {a: 1}}\n").map(|v| v["x"].clone()),
        Ok(json!({"a": 1}))
    );
    assert_eq!(
        read("x: {!!str <<: {a: 1}}\n").map(|v| v["x"].clone()),
        Ok(json!({"<<": {"a": 1}}))
    );
}

#[test]
fn infinity_is_refused_only_where_it_stays() {
    let error = read("a: 1\nb:\n  c: .inf\n").err().unwrap_or_default();
    assert!(error.contains("+Inf cannot be represented"), "{error}");
    let budget = ValueBudget::new();
    let located = read_document("a: 1\nb:\n  c: .inf\n", &budget).err();
    assert_eq!(located.map(|e| (e.line, e.column)), Some((3, 6)));
    // Replaced by a later merge, as go-yaml replaces it, it is never sent.
    assert_eq!(
        read("x: {a: .nan, <<: {a: 1}}\n"),
        Ok(json!({"x": {"a": 1}}))
    );
}

#[test]
fn anchor_names_are_go_yaml_s() {
    assert!(read("a: &x-1_b 1\nb: *x-1_b\n").is_ok());
    let error = read("a: &x\" 1\n").err().unwrap_or_default();
    assert!(error.contains("anchor name"), "{error}");
}

#[test]
fn collections_as_keys_and_null_keys_are_refused() {
    assert!(read("{[1]: a}\n").is_err());
    assert!(read("~: a\n").is_err());
}

#[test]
fn a_hash_inside_a_tag_is_refused_as_kubectl_refuses_it() {
    let error = read("a: 1\nk:\n- !!floa#t -.5\n").unwrap_err();
    assert!(error.contains("tag !!floa#t"), "{error}");
    // Escaped, it is an ordinary tag character, for kubectl too.
    assert_eq!(read("k: !x%23y v\n"), Ok(serde_json::json!({"k": "v"})));
    // After whitespace it starts a comment, not part of the tag.
    assert_eq!(read("k: !x #note\n"), Ok(serde_json::json!({"k": ""})));
}

#[test]
fn tags_end_where_go_yaml_ends_them() {
    // Each as kubectl 1.32 reads it (`kubectl patch --local`).
    assert_eq!(read("k: !a,b v\n"), Ok(serde_json::json!({"k": "v"})));
    assert_eq!(read("k: !a[b] v\n"), Ok(serde_json::json!({"k": "v"})));
    assert_eq!(
        read("k:\n- x\n- !!fl[oat -.5\n"),
        Ok(serde_json::json!({"k": ["x", "-.5"]}))
    );
    assert_eq!(
        read("k: [x, !!fl[oat -.5]\n"),
        Ok(serde_json::json!({"k": ["x", "-.5"]}))
    );
    assert_eq!(read("k: !!int,5 7\n"), Ok(serde_json::json!({"k": "7"})));
    assert_eq!(read("k: !!a!b v\n"), Ok(serde_json::json!({"k": "v"})));
    assert_eq!(
        read("k: {a: !x,y 1}\n"),
        Ok(serde_json::json!({"k": {"a": "1"}}))
    );
    assert_eq!(
        read("k: [!!str , b]\n"),
        Ok(serde_json::json!({"k": ["", "b"]}))
    );
    assert!(
        read("k: {a: !!str}\n").is_err(),
        "no whitespace after the tag"
    );
    assert!(read("k: [a, !x]\n").is_err());
    assert!(read("k: [!!str]\n").is_err());
    // In a flow sequence the tag swallows the rest, so the sequence never closes.
    assert!(read("k: [!a,b]\n").is_err());
    assert!(read("k: !a!b v\n").is_err(), "an undeclared handle");
}

#[test]
fn custom_tags_keep_their_value_as_text() {
    assert_eq!(
        read("a: !secret {b: 1}\nc: !!str 2\nd: !thing 5\n"),
        Ok(json!({"a": {"b": 1}, "c": "2", "d": "5"}))
    );
}
