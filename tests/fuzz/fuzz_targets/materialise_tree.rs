#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kubectl_gitops_fuzz::materialise_tree(data));
